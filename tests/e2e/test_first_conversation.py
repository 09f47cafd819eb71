"""Issue #2 item 10, end to end through the sandbox channel with the real trained model."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.business_day import business_today
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

ANA = "+5531991234567"
CARLOS = "+5511987654321"
STRANGER = "+5521977776666"


def joined(replies: list[str]) -> str:
    return "\n".join(replies)


def test_registered_contact_verifies_and_sees_updated_balance(stack: Stack) -> None:
    greeting = joined(stack.say(ANA, "oi, bom dia"))
    assert "Horizonte Distribuidora" in greeting
    assert "8 primeiros dígitos do CNPJ" in greeting
    assert "R$" not in greeting

    summary = joined(stack.say(ANA, "12.345.678"))
    assert "Qual opção você prefere?" in summary  # the offers follow the summary
    due = (business_today() - timedelta(days=30)).strftime("%d/%m/%Y")
    # 2 000,00 + multa 40,00 + juros 20,00; 500,00 + 10,00 + 5,00
    assert "empresa confirmada" in summary
    assert "Mercado Bom Preço Ltda tem 2 fatura(s) em aberto" in summary
    assert f"Fatura NF-1234-1, vencida em {due} (30 dias): R$ 2.060,00" in summary
    assert f"Fatura NF-1234-2, vencida em {due} (30 dias): R$ 515,00" in summary
    assert "Total atualizado: R$ 2.575,00" in summary
    assert f"atualizados até {business_today().strftime('%d/%m/%Y')}" in summary
    assert "NF-4587" not in summary  # another debtor's invoice

    again = joined(stack.say(ANA, "quanto eu devo?"))
    assert "Total atualizado: R$ 2.575,00" in again

    thanks = joined(stack.say(ANA, "obrigado"))
    assert "Por nada" in thanks and "Voltando à proposta" in thanks  # back to where it was
    assert "Até logo" in joined(stack.say(ANA, "tchau"))

    history = stack.client.get("/channels/sandbox/messages", params={"recipient": ANA}).json()["messages"]
    assert any("Total atualizado: R$ 2.575,00" in m["text"] for m in history)


def test_unknown_number_learns_nothing(stack: Stack) -> None:
    replies = (
        stack.say(STRANGER, "oi") + stack.say(STRANGER, "quanto eu devo?") + stack.say(STRANGER, "12.345.678")
    )
    text = joined(replies)
    assert "Não encontrei este número" in text
    assert "R$" not in text and "Mercado" not in text and "fatura" not in text.lower()


def test_three_wrong_roots_lock_disclosure(stack: Stack) -> None:
    assert "8 primeiros dígitos" in joined(stack.say(CARLOS, "boa tarde"))
    first = joined(stack.say(CARLOS, "11.111.111"))
    assert "não confere" in first and "mais 2 tentativa" in first
    second = joined(stack.say(CARLOS, "22.222.222"))
    assert "mais 1 tentativa" in second
    locked = joined(stack.say(CARLOS, "33.333.333"))
    assert "Por segurança, não posso informar valores" in locked
    # Even the right root now discloses nothing: a person takes over and the bot stays out.
    after = joined(stack.say(CARLOS, "45.871.293") + stack.say(CARLOS, "quanto eu devo?"))
    assert "R$" not in after and "Padaria" not in after
    assert "Um atendente vai continuar esta conversa" in after
    assert stack.query(
        "SELECT reason FROM handoffs h JOIN conversations c ON c.id = h.conversation_id WHERE c.address = ?",
        CARLOS,
    ) == [("identity_failed",)]
