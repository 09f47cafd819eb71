"""Issue #4 flows end to end: the real stack, the trained model, the sandbox channel."""

from __future__ import annotations

import pytest

from server.domain.pix import parse_brcode
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

CAIO, PAULA, OTTO, LIA = "+5531970000001", "+5531970000002", "+5531970000003", "+5531970000004"
DAVI, JADE, OLGA = "+5531970000005", "+5531970000006", "+5531970000007"
RITA, GIL = "+5531970000010", "+5531970000011"


def joined(replies: list[str]) -> str:
    return "\n".join(replies)


def verified(stack: Stack, phone: str, root: str) -> str:
    stack.say(phone, "oi")
    offers = joined(stack.say(phone, root))
    assert "Qual opção você prefere?" in offers, offers
    return offers


def assert_agreement(stack: Stack, phone: str, replies: list[str], first_amount: str) -> None:
    text = joined(replies)
    assert "Acordo fechado!" in text and f"O primeiro pagamento é de {first_amount}" in text
    code = next(r for r in replies if r.startswith("000201"))  # the PIX code in a message of its own
    assert str(parse_brcode(code).amount).replace(".", ",") in first_amount.replace(".", "")
    link = next(r for r in replies if "termo de acordo" in r).split(": ", 1)[1]
    pdf = stack.client.get(link.replace(stack.base_url, ""))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert stack.query(
        "SELECT count(*) FROM agreements a JOIN conversations c ON c.id = a.conversation_id WHERE c.address = ?",
        phone,
    ) == [(1,)]


def test_cash_agreement(stack: Stack) -> None:
    offers = verified(stack, CAIO, "10.101.010")
    # 2 500,00 + multa 50,00 + juros 25,00 = 2 575,00; step 0 offers half of the 5 % discount.
    assert "PIX à vista: R$ 2.510,63 (2,50% de desconto sobre R$ 2.575,00)" in offers
    confirm = joined(stack.say(CAIO, "quero pagar à vista no pix"))
    assert "pagamento único via PIX de R$ 2.510,63" in confirm
    messages = stack.turn(CAIO, "sim")
    assert_agreement(stack, CAIO, [m["text"] for m in messages], "R$ 2.510,63")
    # The QR image and the term PDF come as media on signed links.
    image = next(m["image"] for m in messages if m.get("image"))
    png = stack.client.get(image.replace(stack.base_url, ""))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    document = next(m["document"] for m in messages if m.get("document"))
    assert stack.client.get(document.replace(stack.base_url, "")).content.startswith(b"%PDF")


def test_installments_after_one_refusal(stack: Stack) -> None:
    verified(stack, PAULA, "20.202.020")
    better = joined(stack.say(PAULA, "não"))
    assert "Consegui melhorar" in better and "2x de" in better and "3,75% de desconto" in better
    confirm = joined(stack.say(PAULA, "opção 2"))
    assert "Confirmando: entrada de R$ 618,00" in confirm and "2x de" in confirm
    assert_agreement(stack, PAULA, stack.say(PAULA, "sim, pode fechar"), "R$ 618,00")


def test_counter_offer_accepted(stack: Stack) -> None:
    verified(stack, OTTO, "30.303.030")
    answer = joined(stack.say(OTTO, "te pago 2.500 à vista"))
    assert "Consigo sim!" in answer and "pagamento único via PIX de R$ 2.500,00" in answer
    assert_agreement(stack, OTTO, stack.say(OTTO, "sim"), "R$ 2.500,00")


def test_counter_offer_beyond_limits_goes_to_a_person(stack: Stack) -> None:
    verified(stack, LIA, "40.404.040")
    final = joined(stack.say(LIA, "te pago mil à vista"))
    assert "abaixo do que posso aceitar" in final and "melhor condição" in final
    assert "R$ 2.446,25 (5,00% de desconto" in final  # the limit of the policy, never beyond
    handoff = joined(stack.say(LIA, "te pago mil à vista"))
    assert "atendente" in handoff
    assert stack.query(
        "SELECT reason FROM handoffs h JOIN conversations c ON c.id = h.conversation_id WHERE c.address = ?",
        LIA,
    ) == [("max_discount",)]
    assert "Um atendente vai continuar" in joined(stack.say(LIA, "e aí?"))  # Rasa no longer answers


def test_dispute_goes_to_a_person(stack: Stack) -> None:
    verified(stack, DAVI, "50.505.050")
    reply = joined(stack.say(DAVI, "não reconheço essa dívida, nunca compramos de vocês"))
    assert "Registrei a contestação" in reply and "atendente" in reply
    assert stack.query("SELECT in_dispute FROM debtors WHERE cnpj LIKE '50505050%'") == [(1,)]


def test_legal_situation_sets_legal_hold(stack: Stack) -> None:
    verified(stack, JADE, "60.606.060")
    reply = joined(stack.say(JADE, "a empresa entrou em recuperação judicial"))
    assert "suspendi a cobrança automática" in reply
    assert stack.query("SELECT legal_hold FROM debtors WHERE cnpj LIKE '60606060%'") == [(1,)]
    assert stack.query(
        "SELECT reason FROM handoffs h JOIN conversations c ON c.id = h.conversation_id WHERE c.address = ?",
        JADE,
    ) == [("legal_situation",)]


def test_opt_out_is_recorded_and_the_bot_still_answers(stack: Stack) -> None:
    verified(stack, OLGA, "70.707.070")
    reply = joined(stack.say(OLGA, "não quero mais receber mensagens de vocês"))
    assert "não quer mais receber mensagens de cobrança" in reply
    assert stack.query("SELECT opted_out_at IS NOT NULL FROM contacts WHERE phone_e164 = ?", OLGA) == [(1,)]
    assert stack.say(OLGA, "oi")  # still answered


def test_laughter_at_the_confirmation_is_not_a_yes(stack: Stack) -> None:
    """ "kkkk" or "aff" while the bot asks to confirm the exact terms closes nothing; the terms
    are still on the table, and a real yes then closes them."""
    verified(stack, RITA, "13.131.313")
    confirm = joined(stack.say(RITA, "quero pagar à vista no pix"))
    assert "pagamento único via PIX" in confirm
    for text in ("kkkkkkk", "aff"):
        reply = joined(stack.say(RITA, text))
        assert "Acordo fechado!" not in reply, reply
        assert "posso confirmar as condições acima?" in reply, reply  # the pending question again
    assert stack.query(
        "SELECT count(*) FROM agreements a JOIN conversations c ON c.id = a.conversation_id WHERE c.address = ?",
        RITA,
    ) == [(0,)]
    assert "Acordo fechado!" in joined(stack.say(RITA, "sim"))


def test_two_messages_not_understood_in_a_row_go_to_a_person(stack: Stack) -> None:
    """Gibberish at the confirmation is no yes: the trained model falls back (the intent
    classifier's confidence stays under the FallbackClassifier's threshold), and the second
    fallback in a row hands the conversation to a person."""
    verified(stack, GIL, "14.141.414")
    assert "pagamento único via PIX" in joined(stack.say(GIL, "quero pagar à vista no pix"))
    first = joined(stack.say(GIL, "vbnm qwpz 77"))
    assert "atendente" not in first and "Acordo fechado!" not in first, first
    second = joined(stack.say(GIL, "qazwsx plmokn"))
    assert "atendente" in second and "Acordo fechado!" not in second, second
    assert stack.query(
        "SELECT reason FROM handoffs h JOIN conversations c ON c.id = h.conversation_id WHERE c.address = ?",
        GIL,
    ) == [("repeated_fallback",)]
    assert stack.query(
        "SELECT count(*) FROM agreements a JOIN conversations c ON c.id = a.conversation_id WHERE c.address = ?",
        GIL,
    ) == [(0,)]
