"""Texts the gateway itself sends (the dialogue's texts live in domain.yml)."""

# Sent once per outage of the dialogue engine; the messages stay pending and are answered, in
# order, as soon as it is back (or a collector takes the conversation).
ASSISTANT_UNAVAILABLE = (
    "Nosso assistente está indisponível no momento. Suas mensagens foram registradas e "
    "respondo assim que o sistema voltar, na ordem em que chegaram."
)
# Handoff summary line for collectors (reason engine_unavailable).
ENGINE_HANDOFF_NOTE = (
    "O assistente ficou indisponível por muito tempo; mensagens do cliente aguardando resposta."
)

WAITING_FOR_HUMAN = (
    "Sua mensagem foi registrada. Um atendente vai continuar esta conversa por aqui assim que possível."
)
# Outside the collectors' hours the debtor is told when a person will answer.
WAITING_FOR_HUMAN_LATER = (
    WAITING_FOR_HUMAN + " Nosso atendimento funciona {hours}; você terá resposta a partir de {when}."
)

# Telegram gives no phone number: the chat is linked to a contact once the user shares their own.
TELEGRAM_ASK_PHONE = (
    "Olá! Aqui é o assistente virtual de cobrança da {creditor_name}. Para localizar o seu cadastro, "
    "toque no botão abaixo e compartilhe o número de telefone desta conta do Telegram."
)
TELEGRAM_SHARE_PHONE_BUTTON = "Compartilhar meu telefone"
TELEGRAM_NOT_OWN_CONTACT = (
    "Por segurança, só posso usar o seu próprio número, não o contato de outra pessoa. Toque no "
    "botão abaixo para compartilhar o telefone desta conta do Telegram."
)
TELEGRAM_PHONE_LINKED = "Obrigado! Telefone recebido."
TELEGRAM_PHONE_UNKNOWN = (
    "Não encontrei este número no cadastro de contatos das empresas clientes da {creditor_name}, por "
    "isso não posso informar valores por aqui. Se você representa uma empresa cliente, peça para "
    "cadastrarem este número."
)
# Transcript entry (read by collectors) for a shared contact card.
TELEGRAM_CONTACT_SHARED = "[contato compartilhado: {phone}]"

MEDIA_RECEIVED = (
    "Recebemos seu arquivo, obrigado! Ele fica registrado no seu atendimento e será analisado "
    "pela nossa equipe."
)

MEDIA_REFUSED = (
    "Recebi sua mensagem, mas não consigo guardar este arquivo. Envie o comprovante como foto ou "
    "PDF (até 20 MB), por favor."
)

UNSUPPORTED_CONTENT = (
    "Por aqui consigo entender apenas mensagens de texto (e receber arquivos, como comprovantes). "
    "Pode me escrever o que precisa?"
)
