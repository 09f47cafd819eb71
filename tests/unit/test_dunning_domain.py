"""Pure dunning rules: contact hours, holidays, time zones, the send gate, validation, pacing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.domain.contact_hours import (
    DEFAULT_CONTACT_HOURS,
    is_national_holiday,
    state_for_phone,
    timezone_for_phone,
)
from server.domain.dunning import (
    Decision,
    DunningStep,
    SendFacts,
    StepConditions,
    Target,
    decide,
    idempotency_key,
    rules_from_dict,
    rules_to_dict,
    step_due_at,
    text_errors,
    validate_rules,
)
from server.services.dunning import load_catalogue
from server.services.dunning_texts import DEFAULT_RULES
from server.services.rate_limit import LocalRateLimiter
from server.settings import PROJECT_ROOT

SP = "America/Sao_Paulo"
CATALOGUE = load_catalogue(PROJECT_ROOT / "config" / "whatsapp_templates.json")


def sp(y: int, m: int, d: int, h: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=ZoneInfo(SP))


def test_state_and_zone_from_ddd() -> None:
    assert state_for_phone("+5511987654321") == "SP"
    assert state_for_phone("+5592991234567") == "AM"
    assert timezone_for_phone("+5592991234567") == "America/Manaus"
    assert timezone_for_phone("+5568999990000") == "America/Rio_Branco"
    assert timezone_for_phone("+5531991234567") == SP
    assert timezone_for_phone(None) == SP
    assert timezone_for_phone("+14155550100") == SP


def test_contact_hours_weekdays_saturday_sunday_holidays() -> None:
    hours = DEFAULT_CONTACT_HOURS
    assert hours.allows(sp(2026, 12, 1, 8), SP)  # Tuesday 8:00
    assert not hours.allows(sp(2026, 12, 1, 7, 59), SP)
    assert not hours.allows(sp(2026, 12, 1, 20), SP)
    assert hours.allows(sp(2026, 12, 5, 13, 59), SP)  # Saturday
    assert not hours.allows(sp(2026, 12, 5, 14), SP)
    assert not hours.allows(sp(2026, 12, 6, 10), SP)  # Sunday
    assert is_national_holiday(date(2026, 12, 25)) and is_national_holiday(date(2026, 11, 20))
    assert not hours.allows(sp(2026, 12, 25, 10), SP)  # Christmas, a Friday
    assert hours.next_allowed(sp(2026, 12, 24, 20), SP) == sp(2026, 12, 26, 8)
    assert hours.next_allowed(sp(2026, 12, 5, 15), SP) == sp(2026, 12, 7, 8)  # Saturday → Monday
    # 8:30 in São Paulo is 7:30 in Manaus: not yet.
    assert not hours.allows(sp(2026, 12, 1, 8, 30), "America/Manaus")
    nxt = hours.next_allowed(sp(2026, 12, 1, 8, 30), "America/Manaus")
    assert nxt.astimezone(ZoneInfo("America/Manaus")).hour == 8


def facts(**changes: object) -> SendFacts:
    base = SendFacts(
        now=sp(2026, 12, 1, 10), tz=SP, due_at=sp(2026, 12, 1, 9), channel="whatsapp", opted_out=False,
        legal_hold=False, in_dispute=False, target_settled=False, under_agreement=False,
        agreement_active=True, sent_today=0, sent_week=0, within_window=False,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_gate_stops_defers_and_chooses_template_or_text() -> None:
    rules = DEFAULT_RULES
    inv = Target.INVOICE
    assert decide(facts(), rules, inv).decision == Decision.SEND_TEMPLATE
    assert decide(facts(within_window=True), rules, inv).decision == Decision.SEND_TEXT
    assert decide(facts(channel="telegram"), rules, inv).decision == Decision.SEND_TEXT
    for change, reason in [
        ({"opted_out": True}, "opted_out"), ({"legal_hold": True}, "legal_hold"),
        ({"in_dispute": True}, "in_dispute"), ({"target_settled": True}, "paid"),
        ({"under_agreement": True}, "agreement"), ({"step_exists": False}, "step_removed"),
        ({"due_at": sp(2026, 11, 27, 9)}, "expired"),
    ]:  # fmt: skip
        verdict = decide(facts(**change), rules, inv)
        assert (verdict.decision, verdict.reason) == (Decision.SKIP, reason)
    assert decide(facts(agreement_active=False), rules, Target.INSTALLMENT).reason == "agreement_inactive"
    assert decide(facts(under_agreement=True), rules, Target.INSTALLMENT).sends
    sunday = decide(facts(now=sp(2026, 12, 6, 10), due_at=sp(2026, 12, 6, 9)), rules, inv)
    assert (sunday.decision, sunday.reason, sunday.until) == (
        Decision.DEFER,
        "contact_hours",
        sp(2026, 12, 7, 8),
    )
    capped = decide(facts(sent_today=2), rules, inv)
    assert (capped.decision, capped.reason, capped.until) == (
        Decision.DEFER,
        "frequency_cap",
        sp(2026, 12, 2, 8),
    )
    assert decide(facts(sent_week=4), rules, inv).reason == "frequency_cap"


def test_step_due_at_and_idempotency_key() -> None:
    step = DEFAULT_RULES.steps[0]
    assert step.offset_days == -3
    assert step_due_at(date(2026, 12, 10), step, 9, SP) == sp(2026, 12, 7, 9)
    assert idempotency_key(Target.INVOICE, 7, "fatura_d-3", 3) == "inv:7:fatura_d-3:3"
    assert idempotency_key(Target.INSTALLMENT, 7, "fatura_d-3", 3) != idempotency_key(
        Target.INVOICE, 7, "fatura_d-3", 3
    )


def test_default_rules_are_valid_and_round_trip() -> None:
    assert validate_rules(DEFAULT_RULES, CATALOGUE) == []
    assert rules_from_dict(rules_to_dict(DEFAULT_RULES)) == DEFAULT_RULES
    offsets = [s.offset_days for s in DEFAULT_RULES.steps_for(Target.INVOICE)]
    assert offsets == [-3, 0, 1, 7, 15, 30]


def test_validation_names_each_bad_field() -> None:
    bad_step = DunningStep("x", Target.INVOICE, -3, "nao_aprovado", "Pague ou chamaremos a polícia {oops}")
    rules = replace(DEFAULT_RULES, steps=(*DEFAULT_RULES.steps, bad_step), daily_cap=0)
    fields = {e.field for e in validate_rules(rules, CATALOGUE)}
    n = len(DEFAULT_RULES.steps)
    assert {f"steps.{n}.offset_days", f"steps.{n}.template", f"steps.{n}.text", "daily_cap"} <= fields
    messages = " ".join(e.message for e in text_errors("Pague ou chamaremos a polícia {oops}", "t"))
    assert "oops" in messages and "{creditor}" in messages and "intimidatória" in messages
    assert text_errors("A {creditor} lembra: {document} vence em {due_date}.", "t") == []


def test_step_conditions() -> None:
    from decimal import Decimal

    c = StepConditions(min_amount=Decimal("100"), segments=("varejo",))
    assert c.matches(Decimal("100"), "Varejo ")
    assert not c.matches(Decimal("99.99"), "varejo")
    assert not c.matches(Decimal("500"), "serviços")


def test_local_rate_limiter_spaces_messages_per_sender() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = LocalRateLimiter(80, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(161):
        limiter.acquire("whatsapp:+551140028922")
    assert abs(now[0] - 2.0) < 1e-9  # 161 messages at 80/s: the last leaves at t = 2 s
    limiter.acquire("whatsapp:+551140020000")  # another sender is not held back
    assert abs(now[0] - 2.0) < 1e-9
    assert all(s > 0 for s in slept)


def test_utc_inputs_are_fine() -> None:
    assert DEFAULT_CONTACT_HOURS.allows(datetime(2026, 12, 1, 13, tzinfo=UTC), SP)
    assert DEFAULT_CONTACT_HOURS.next_allowed(datetime(2026, 12, 6, 13, tzinfo=UTC), SP) - sp(
        2026, 12, 7, 8
    ) == timedelta(0)
