"""Texts the gateway itself sends (the dialogue's texts live in domain.yml)."""

ASSISTANT_UNAVAILABLE = (
    "Nosso assistente está indisponível no momento. Sua mensagem foi registrada e "
    "responderemos assim que possível."
)

WAITING_FOR_HUMAN = (
    "Sua mensagem foi registrada. Um atendente vai continuar esta conversa por aqui assim que possível."
)
