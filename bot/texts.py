"""Texts the gateway itself sends (the dialogue's texts live in domain.yml)."""

ASSISTANT_UNAVAILABLE = (
    "Nosso assistente está indisponível no momento. Sua mensagem foi registrada e "
    "responderemos assim que possível."
)

WAITING_FOR_HUMAN = (
    "Sua mensagem foi registrada. Um atendente vai continuar esta conversa por aqui assim que possível."
)

MEDIA_RECEIVED = (
    "Recebemos seu arquivo, obrigado! Ele fica registrado no seu atendimento e será analisado "
    "pela nossa equipe."
)

UNSUPPORTED_CONTENT = (
    "Por aqui consigo entender apenas mensagens de texto (e receber arquivos, como comprovantes). "
    "Pode me escrever o que precisa?"
)
