"""Debtor-facing texts of the dunning schedule and payment confirmations (Portuguese), and the
default schedule built from them. Every text names the creditor and carries no threat."""

from __future__ import annotations

from server.domain.dunning import DunningRules, DunningStep, Target

BEFORE_DUE = (
    "Olá, {contact_name}! A {creditor} lembra que a {document}, no valor de {amount}, vence em "
    "{due_date}. Se preferir, pague com o PIX copia e cola abaixo. Se já pagou, desconsidere.\n\n{pix_code}"
)
DUE_TODAY = (
    "Olá, {contact_name}! A {creditor} informa que a {document}, no valor de {amount}, vence hoje. "
    "PIX copia e cola abaixo. Se já pagou, desconsidere.\n\n{pix_code}"
)
OVERDUE = (
    "Olá, {contact_name}. A {creditor} não identificou o pagamento da {document}, vencida em {due_date}. "
    "Se já pagou, desconsidere. Podemos ajudar a encontrar uma condição de pagamento: é só responder "
    "esta mensagem."
)
INSTALLMENT_DUE = (
    "Olá, {contact_name}! A {creditor} lembra que a {document} do seu acordo, no valor de {amount}, "
    "vence em {due_date}. PIX copia e cola abaixo.\n\n{pix_code}"
)
INSTALLMENT_OVERDUE = (
    "Olá, {contact_name}. A {creditor} não identificou o pagamento da {document} do seu acordo, "
    "vencida em {due_date}, no valor de {amount}. Se já pagou, desconsidere. PIX copia e cola:\n\n{pix_code}"
)
RENEGOTIATION = (
    "Olá, {contact_name}. A {creditor} não identificou o pagamento de uma parcela do seu acordo, que "
    "foi encerrado. Queremos ajudar com novas condições: responda esta mensagem para ver as opções."
)
PAYMENT_THANKS = (
    "Olá, {contact_name}! A {creditor} confirma o recebimento do pagamento da {document}, no valor de "
    "{amount}. Obrigado!"
)
THANKS_TEMPLATE = "negocia_pagamento_confirmado"

DOCUMENT_INVOICE = "fatura {number}"
DOCUMENT_INSTALLMENT = "parcela {number}"
DOCUMENT_DOWN_PAYMENT = "entrada"

# Handoff notes for collectors.
NOTE_PARTIAL = "PIX de {paid} recebido para a {document}; o valor devido é {expected}."
NOTE_WRONG_AMOUNT = "PIX de {paid} recebido para a {document}, acima do valor devido de {expected}."
NOTE_BROKEN = "Acordo {agreement} rompido: {document} vencida em {due_date} sem pagamento."

_INVOICE = Target.INVOICE
_INSTALLMENT = Target.INSTALLMENT

DEFAULT_RULES = DunningRules(
    steps=(
        DunningStep("fatura_d-3", _INVOICE, -3, "negocia_lembrete_vencimento", BEFORE_DUE),
        DunningStep("fatura_d0", _INVOICE, 0, "negocia_vencimento_hoje", DUE_TODAY),
        DunningStep("fatura_d+1", _INVOICE, 1, "negocia_em_atraso", OVERDUE),
        DunningStep("fatura_d+7", _INVOICE, 7, "negocia_em_atraso", OVERDUE),
        DunningStep("fatura_d+15", _INVOICE, 15, "negocia_em_atraso", OVERDUE),
        DunningStep("fatura_d+30", _INVOICE, 30, "negocia_em_atraso", OVERDUE),
        DunningStep("parcela_d-3", _INSTALLMENT, -3, "negocia_parcela_acordo", INSTALLMENT_DUE),
        DunningStep("parcela_d0", _INSTALLMENT, 0, "negocia_parcela_acordo", INSTALLMENT_DUE),
        DunningStep("parcela_d+1", _INSTALLMENT, 1, "negocia_em_atraso", INSTALLMENT_OVERDUE),
        DunningStep("parcela_d+7", _INSTALLMENT, 7, "negocia_em_atraso", INSTALLMENT_OVERDUE),
    ),
    renegotiation_template="negocia_renegociacao",
    renegotiation_text=RENEGOTIATION,
)

# The admin dashboard's labels for reminder outcomes.
MESSAGE_STATUS_LABELS = {
    "pending": "aguardando envio",
    "queued": "na fila do provedor",
    "accepted": "aceita pelo provedor",
    "sent": "enviada",
    "delivered": "entregue",
    "read": "lida",
    "undelivered": "não entregue",
    "failed": "falhou",
}
SKIP_REASON_LABELS = {
    "opted_out": "pediu para não receber",
    "legal_hold": "bloqueio jurídico",
    "in_dispute": "em contestação",
    "paid": "pago",
    "agreement": "em acordo",
    "agreement_inactive": "acordo encerrado",
    "expired": "prazo de envio vencido",
    "no_channel": "sem canal",
    "step_removed": "etapa removida",
    "unknown_template": "template não aprovado",
}
