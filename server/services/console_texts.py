"""What collectors read in the console and what the debtor receives from console actions."""

from __future__ import annotations

REASON_LABELS = {
    "request_human": "pediu atendente",
    "dispute": "contestação",
    "legal_situation": "situação jurídica",
    "complaint": "reclamação",
    "refused_final_offer": "recusou oferta final",
    "max_discount": "desconto fora do limite",
    "max_installments": "parcelas fora do limite",
    "min_installment_amount": "parcela abaixo do mínimo",
    "min_down_payment": "entrada abaixo do mínimo",
    "above_authority": "acima da alçada do bot",
    "no_policy_rule": "sem regra de oferta",
    "repeated_fallback": "bot não entendeu",
    "identity_failed": "identidade não confirmada",
    "already_paid": "diz que já pagou",
    "second_copy": "segunda via",
}

STATE_LABELS = {
    "bot": "com o assistente",
    "waiting_human": "aguardando atendente",
    "with_human": "em atendimento",
    "closed": "encerrada",
}

CANNED_REPLIES = (
    "Olá! Aqui é {collector}, da {creditor}. Vou continuar o seu atendimento.",
    "Pode me enviar o comprovante de pagamento, por favor?",
    "Estou verificando as informações e já retorno.",
    "Consigo uma condição especial para pagamento à vista. Podemos fechar?",
    "Obrigado pelo contato! Se precisar, é só escrever por aqui.",
)

# Sent to the debtor.
AGREEMENT_DONE = (
    "Acordo fechado! O primeiro pagamento é de {amount}, até {due_date}. Segue o código PIX copia e cola:"
)
TERM_LINK = "O termo de acordo com todas as condições está aqui: {url}"
RELEASED_TO_BOT = "Seu atendimento com a equipe foi concluído. O assistente virtual da {creditor} segue à disposição por aqui."
