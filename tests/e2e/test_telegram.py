"""A whole negotiation on Telegram: the real stack and trained model, the fake Bot API.

Linking by shared contact, the CNPJ-root check, offers as an inline keyboard, a button press,
and the agreement with its PIX code, all through ``POST /channels/telegram``.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.domain.pix import parse_brcode
from tests.e2e.conftest import TELEGRAM_SECRET, Stack
from tests.fakes_telegram import Call, FakeTelegram, callback_update, contact_update, text_update

pytestmark = pytest.mark.e2e

TITO_TG = 880_808
TITO_PHONE = "5531970000008"  # Telegram sends the number without "+"


class TelegramUser:
    def __init__(self, stack: Stack, fake: FakeTelegram, user_id: int) -> None:
        self.stack, self.fake, self.user_id = stack, fake, user_id

    def send(self, update: dict[str, Any], expect: str) -> list[Call]:
        """Post one update and wait for the bot's messages up to one containing ``expect``."""
        before = len(self.fake.sent_to(self.user_id))
        r = self.stack.client.post(
            "/channels/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        )
        assert r.status_code == 200, r.text
        self.fake.wait_for(
            lambda: any(expect in _text(c) for c in self.fake.sent_to(self.user_id)[before:]), 90
        )
        return self.fake.sent_to(self.user_id)[before:]

    def say(self, text: str, expect: str) -> list[Call]:
        return self.send(text_update(self.user_id, text), expect)


def _text(call: Call) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


def joined(calls: list[Call]) -> str:
    return "\n".join(_text(c) for c in calls)


def test_whole_negotiation_on_telegram(stack: Stack, fake_telegram: FakeTelegram) -> None:
    tito = TelegramUser(stack, fake_telegram, TITO_TG)

    asked = tito.say("oi", "compartilhe o número de telefone")
    assert asked[-1].params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert "R$" not in joined(asked)

    greeting = joined(tito.send(contact_update(TITO_TG, TITO_PHONE, TITO_TG), "8 primeiros dígitos do CNPJ"))
    assert "Telefone recebido" in greeting and "Horizonte Distribuidora" in greeting
    assert "R$" not in greeting  # linked, not yet verified

    offers = tito.say("80.808.080", "Qual opção você prefere?")
    text = joined(offers)
    assert "Telegrama Comércio Ltda tem 2 fatura(s) em aberto" in text
    assert "PIX à vista: R$ 2.510,63" in text
    keyboard = next(c for c in offers if "inline_keyboard" in (c.params.get("reply_markup") or {}))
    buttons = [row[0] for row in keyboard.params["reply_markup"]["inline_keyboard"]]
    cash = next(b for b in buttons if '"cash"' in b["callback_data"])

    confirm = joined(tito.send(callback_update(TITO_TG, cash["callback_data"]), "pagamento único via PIX"))
    assert "R$ 2.510,63" in confirm
    assert fake_telegram.calls_to("answerCallbackQuery")

    done = tito.say("sim", "termo de acordo")
    assert "Acordo fechado!" in joined(done) and "O primeiro pagamento é de R$ 2.510,63" in joined(done)
    code = next(_text(c) for c in done if _text(c).startswith("000201"))  # a message of its own
    assert str(parse_brcode(code).amount) == "2510.63"
    assert stack.query(
        "SELECT count(*) FROM agreements a JOIN conversations c ON c.id = a.conversation_id "
        "WHERE c.channel = 'telegram' AND c.address = ?",
        str(TITO_TG),
    ) == [(1,)]

    # Every bot message went through the fake and is recorded as sent (the record is written
    # just after the fake answers, hence the wait).
    def statuses() -> list[tuple]:
        return stack.query(
            "SELECT DISTINCT m.status FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.address = ? AND m.direction = 'outbound'",
            str(TITO_TG),
        )

    fake_telegram.wait_for(lambda: ("pending",) not in statuses(), 30)
    assert statuses() == [("sent",)]
