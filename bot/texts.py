"""Texts the gateway itself sends (the dialogue's texts live in domain.yml)."""

ASSISTANT_UNAVAILABLE = (
    "Nosso assistente está indisponível no momento. Sua mensagem foi registrada e "
    "responderemos assim que possível."
)
