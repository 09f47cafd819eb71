"""Texts the gateway itself sends (the dialogue's texts live in domain.yml)."""

ASSISTANT_UNAVAILABLE = (
    "Nosso assistente está indisponível no momento. Sua mensagem foi registrada e "
    "responderemos assim que possível."
)

WAITING_FOR_HUMAN = (
    "Sua mensagem foi registrada. Um atendente vai continuar esta conversa por aqui assim que possível."
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

UNSUPPORTED_CONTENT = (
    "Por aqui consigo entender apenas mensagens de texto (e receber arquivos, como comprovantes). "
    "Pode me escrever o que precisa?"
)
