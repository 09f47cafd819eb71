"""Dunning rules ("régua de cobrança") and the checks made before every reminder is sent.

Pure: no database, no clock. A step is relative to a due date (D−3, D0, D+1…) of an invoice or
of an agreement installment, names a WhatsApp template from the approved catalogue and carries
the Telegram (and in-window WhatsApp) text. ``decide`` is the single gate every send goes
through: it answers send (template or free text), defer (until when) or skip (why).
"""

from __future__ import annotations

import enum
import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from server.domain.contact_hours import DEFAULT_CONTACT_HOURS, ContactHours
from server.domain.policy import FieldError


class Target(enum.StrEnum):
    INVOICE = "invoice"
    INSTALLMENT = "installment"


class BrokenAction(enum.StrEnum):
    RENEGOTIATE = "renegotiate"  # the agreement lapses and the debtor is invited to a new offer
    HANDOFF = "handoff"  # a collector takes it


# What a text may refer to; ``creditor`` is mandatory (every message names the creditor).
PLACEHOLDERS = frozenset(
    {"creditor", "contact_name", "debtor_name", "document", "amount", "due_date", "pix_code"}
)
# Words that would turn a reminder into a threat or public shaming (CDC art. 42 and 71).
FORBIDDEN_WORDS = (
    "prisão", "preso", "polícia", "policia", "cadeia", "crime", "criminal", "ameaça", "vergonha",
    "expor", "exposição", "humilha", "constrang", "vizinho", "familiares", "seu chefe",
)  # fmt: skip
STEP_ID = re.compile(r"[A-Za-z0-9_+\-]{1,40}")
RENEGOTIATION_STEP = "renegotiation"  # the message sent when a broken agreement is reopened


@dataclass(frozen=True)
class StepConditions:
    """Which debts a step applies to (all when empty)."""

    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    segments: tuple[str, ...] = ()

    def matches(self, amount: Decimal, segment: str | None) -> bool:
        if self.min_amount is not None and amount < self.min_amount:
            return False
        if self.max_amount is not None and amount > self.max_amount:
            return False
        if not self.segments:  # the common case, checked once per debt and step when planning
            return True
        wanted = {s.strip().lower() for s in self.segments}
        return (segment or "").strip().lower() in wanted


@dataclass(frozen=True)
class DunningStep:
    id: str
    target: Target
    offset_days: int  # relative to the due date: −3 is D−3
    template: str  # key of the approved WhatsApp template in the catalogue
    text: str  # Telegram text, and WhatsApp free text inside the 24-hour window
    conditions: StepConditions = field(default_factory=StepConditions)


@dataclass(frozen=True)
class DunningRules:
    steps: tuple[DunningStep, ...]
    daily_cap: int = 2  # reminders per contact per local day
    weekly_cap: int = 4  # reminders per contact in any 7 days
    send_hour: int = 9  # local hour at which a step falls due
    max_delay_days: int = 3  # deferred longer than this (hours, caps), a reminder is dropped
    broken_after_days: int = 10  # an installment unpaid this long breaks the agreement
    broken_action: BrokenAction = BrokenAction.RENEGOTIATE
    renegotiation_template: str = "negocia_renegociacao"
    renegotiation_text: str = ""

    def step(self, step_id: str) -> DunningStep | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def steps_for(self, target: Target) -> tuple[DunningStep, ...]:
        return tuple(s for s in self.steps if s.target == target)


@dataclass(frozen=True)
class Template:
    """An approved WhatsApp template: Twilio ContentSid, what each numbered variable carries, and
    its approved body (for the transcript, with ``{{1}}``-style markers)."""

    key: str
    content_sid: str
    variables: dict[str, str]  # Twilio variable number → placeholder name
    body: str

    def render_variables(self, values: dict[str, str]) -> dict[str, str]:
        return {number: values.get(name, "") for number, name in self.variables.items()}

    def render_body(self, values: dict[str, str]) -> str:
        text = self.body
        for number, value in self.render_variables(values).items():
            text = text.replace("{{" + number + "}}", value)
        return text


class InvalidDunningRules(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def text_errors(text: str, where: str) -> list[FieldError]:
    """A debtor-facing text: known placeholders, names the creditor, no threats."""
    errors: list[FieldError] = []
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return [FieldError(where, "texto com chaves { } mal formadas")]
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        errors.append(FieldError(where, f"variável desconhecida: {', '.join(unknown)}"))
    if "creditor" not in names:
        errors.append(FieldError(where, "o texto deve nomear o credor: inclua {creditor}"))
    lowered = text.lower()
    bad = [w for w in FORBIDDEN_WORDS if w in lowered]
    if bad:
        errors.append(
            FieldError(where, f"linguagem intimidatória não é permitida (CDC art. 42/71): {bad[0]}")
        )
    return errors


def validate_rules(rules: DunningRules, catalogue: dict[str, Template]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    offsets: set[tuple[Target, int]] = set()
    if not rules.steps:
        errors.append(FieldError("steps", "inclua ao menos uma etapa"))
    for i, step in enumerate(rules.steps):
        at = f"steps.{i}"
        if not STEP_ID.fullmatch(step.id):
            errors.append(FieldError(f"{at}.id", "use até 40 letras, dígitos, +, - ou _"))
        elif step.id in seen or step.id == RENEGOTIATION_STEP:
            errors.append(FieldError(f"{at}.id", f"identificador repetido ou reservado: {step.id}"))
        seen.add(step.id)
        if not -60 <= step.offset_days <= 180:
            errors.append(FieldError(f"{at}.offset_days", "entre -60 e 180 dias do vencimento"))
        elif (step.target, step.offset_days) in offsets:
            errors.append(FieldError(f"{at}.offset_days", "já existe uma etapa neste dia para este alvo"))
        offsets.add((step.target, step.offset_days))
        if step.template not in catalogue:
            errors.append(FieldError(f"{at}.template", f"template não aprovado: {step.template}"))
        errors.extend(text_errors(step.text, f"{at}.text"))
        c = step.conditions
        if c.min_amount is not None and c.max_amount is not None and c.min_amount > c.max_amount:
            errors.append(FieldError(f"{at}.conditions.max_amount", "menor que o valor mínimo"))
    if not 1 <= rules.daily_cap <= 10:
        errors.append(FieldError("daily_cap", "entre 1 e 10 por dia"))
    if not rules.daily_cap <= rules.weekly_cap <= 30:
        errors.append(FieldError("weekly_cap", "entre o limite diário e 30 por semana"))
    if not 0 <= rules.send_hour <= 23:
        errors.append(FieldError("send_hour", "hora entre 0 e 23"))
    if not 0 <= rules.max_delay_days <= 15:
        errors.append(FieldError("max_delay_days", "entre 0 e 15 dias"))
    if not 1 <= rules.broken_after_days <= 120:
        errors.append(FieldError("broken_after_days", "entre 1 e 120 dias"))
    if rules.renegotiation_template not in catalogue:
        errors.append(
            FieldError("renegotiation_template", f"template não aprovado: {rules.renegotiation_template}")
        )
    errors.extend(text_errors(rules.renegotiation_text, "renegotiation_text"))
    return errors


# --- serialisation (rules are stored as JSON versions) ---------------------------------------


def _opt_decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def rules_to_dict(rules: DunningRules) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": s.id, "target": s.target.value, "offset_days": s.offset_days, "template": s.template,
                "text": s.text,
                "conditions": {
                    "min_amount": None if s.conditions.min_amount is None else str(s.conditions.min_amount),
                    "max_amount": None if s.conditions.max_amount is None else str(s.conditions.max_amount),
                    "segments": list(s.conditions.segments),
                },
            }
            for s in rules.steps
        ],
        "daily_cap": rules.daily_cap, "weekly_cap": rules.weekly_cap, "send_hour": rules.send_hour,
        "max_delay_days": rules.max_delay_days, "broken_after_days": rules.broken_after_days,
        "broken_action": rules.broken_action.value, "renegotiation_template": rules.renegotiation_template,
        "renegotiation_text": rules.renegotiation_text,
    }  # fmt: skip


def rules_from_dict(data: dict[str, Any]) -> DunningRules:
    steps = tuple(
        DunningStep(
            id=s["id"],
            target=Target(s["target"]),
            offset_days=int(s["offset_days"]),
            template=s["template"],
            text=s["text"],
            conditions=StepConditions(
                min_amount=_opt_decimal(s.get("conditions", {}).get("min_amount")),
                max_amount=_opt_decimal(s.get("conditions", {}).get("max_amount")),
                segments=tuple(s.get("conditions", {}).get("segments", ())),
            ),
        )
        for s in data["steps"]
    )
    return DunningRules(
        steps=steps,
        daily_cap=int(data["daily_cap"]),
        weekly_cap=int(data["weekly_cap"]),
        send_hour=int(data["send_hour"]),
        max_delay_days=int(data["max_delay_days"]),
        broken_after_days=int(data["broken_after_days"]),
        broken_action=BrokenAction(data["broken_action"]),
        renegotiation_template=data["renegotiation_template"],
        renegotiation_text=data["renegotiation_text"],
    )


# --- the gate before every send ---------------------------------------------------------------


class Decision(enum.StrEnum):
    SEND_TEMPLATE = "send_template"
    SEND_TEXT = "send_text"
    DEFER = "defer"
    SKIP = "skip"


@dataclass(frozen=True)
class SendFacts:
    """Everything the gate needs, read by the service just before sending."""

    now: datetime
    tz: str  # the debtor's zone (from the phone's DDD)
    due_at: datetime  # when the step fell due
    channel: str  # "whatsapp", "telegram" or "sandbox" (behaves like WhatsApp)
    opted_out: bool
    legal_hold: bool
    in_dispute: bool
    target_settled: bool  # invoice or installment paid / cancelled
    under_agreement: bool  # invoice reminders: an active agreement covers the invoice
    agreement_active: bool  # installment reminders: the agreement is still active
    sent_today: int  # reminders already sent to this contact on this local day
    sent_week: int  # … in the last 7 days
    within_window: bool  # WhatsApp: the contact wrote in the last 24 hours
    step_exists: bool = True


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str = ""
    until: datetime | None = None

    @property
    def sends(self) -> bool:
        return self.decision in (Decision.SEND_TEMPLATE, Decision.SEND_TEXT)


def decide(
    facts: SendFacts, rules: DunningRules, target: Target, hours: ContactHours = DEFAULT_CONTACT_HOURS
) -> Verdict:
    """Stops first (they are final), then the deadline, then hours and caps (they postpone)."""
    if not facts.step_exists:
        return Verdict(Decision.SKIP, "step_removed")
    if facts.opted_out:
        return Verdict(Decision.SKIP, "opted_out")
    if facts.legal_hold:
        return Verdict(Decision.SKIP, "legal_hold")
    if facts.in_dispute:
        return Verdict(Decision.SKIP, "in_dispute")
    if facts.target_settled:
        return Verdict(Decision.SKIP, "paid")
    if target == Target.INVOICE and facts.under_agreement:
        return Verdict(Decision.SKIP, "agreement")
    if target == Target.INSTALLMENT and not facts.agreement_active:
        return Verdict(Decision.SKIP, "agreement_inactive")
    if facts.now - facts.due_at > timedelta(days=rules.max_delay_days):
        return Verdict(Decision.SKIP, "expired")
    if not hours.allows(facts.now, facts.tz):
        return Verdict(Decision.DEFER, "contact_hours", hours.next_allowed(facts.now, facts.tz))
    if facts.sent_today >= rules.daily_cap or facts.sent_week >= rules.weekly_cap:
        tomorrow = facts.now + timedelta(days=1)
        return Verdict(
            Decision.DEFER, "frequency_cap", hours.next_allowed(_start_of_day(tomorrow, facts.tz), facts.tz)
        )
    if facts.channel == "telegram" or facts.within_window:
        return Verdict(Decision.SEND_TEXT)
    return Verdict(Decision.SEND_TEMPLATE)


def _start_of_day(at: datetime, tz: str) -> datetime:
    local = at.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def step_due_at(due_date: date, step: DunningStep, send_hour: int, tz: str) -> datetime:
    """The moment a step falls due: its day at ``send_hour`` in the debtor's zone."""
    day = due_date + timedelta(days=step.offset_days)
    return datetime(day.year, day.month, day.day, send_hour, tzinfo=ZoneInfo(tz))


def render_text(text: str, values: dict[str, str]) -> str:
    return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


def idempotency_key(target: Target, target_id: int, step_id: str, contact_id: int) -> str:
    """One reminder per (invoice | installment, step, contact), ever."""
    return f"{'inv' if target == Target.INVOICE else 'ins'}:{target_id}:{step_id}:{contact_id}"
