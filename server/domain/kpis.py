"""Collection KPIs (pure): computed from plain rows the service loads, so every figure can be
checked by hand. Money is Decimal; rates are percentages with two places (None when the
denominator is zero: "no data" is not 0 %)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a data final deve ser igual ou posterior à inicial")
        if (self.end - self.start).days >= MAX_PERIOD_DAYS:
            raise ValueError(f"período de no máximo {MAX_PERIOD_DAYS} dias")

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def pct(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True)
class DayPoint:
    day: date
    count: int
    value: Decimal


def agreements_per_day(period: Period, agreements: Iterable[tuple[date, Decimal]]) -> list[DayPoint]:
    """Every day of the period, zeros included (a chart needs the gaps)."""
    counts: Counter[date] = Counter()
    values: dict[date, Decimal] = {}
    for day, value in agreements:
        if day in period:
            counts[day] += 1
            values[day] = values.get(day, ZERO) + value
    return [DayPoint(d, counts[d], values.get(d, ZERO)) for d in period.days()]


def average_days_overdue(due_dates: Iterable[date], as_of: date) -> Decimal | None:
    """Mean days overdue of the open invoices already past due on ``as_of``."""
    ages = [(as_of - due).days for due in due_dates if due < as_of]
    if not ages:
        return None
    return (Decimal(sum(ages)) / len(ages)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def promise_kept(
    installments: Iterable[tuple[date, date | None]], period: Period, as_of: date
) -> tuple[int, int]:
    """(kept, due): installments due in the period and already past due on ``as_of``
    (the due day itself still counts as on time), and how many were paid by their due date."""
    kept = due = 0
    for due_date, paid_on in installments:
        if due_date in period and due_date < as_of:
            due += 1
            kept += paid_on is not None and paid_on <= due_date
    return kept, due


@dataclass(frozen=True)
class ResponseTimes:
    answered: int
    unanswered: int
    average_minutes: Decimal | None
    median_minutes: Decimal | None


def first_response_times(handoffs: Iterable[tuple[datetime, datetime | None]]) -> ResponseTimes:
    """From a handoff to the first collector message in that conversation."""
    minutes: list[Decimal] = []
    unanswered = 0
    for created, replied in handoffs:
        if replied is None:
            unanswered += 1
        else:
            minutes.append(Decimal((replied - created).total_seconds()) / 60)
    if not minutes:
        return ResponseTimes(0, unanswered, None, None)
    q = Decimal("0.1")
    return ResponseTimes(
        len(minutes),
        unanswered,
        (sum(minutes, Decimal(0)) / len(minutes)).quantize(q, ROUND_HALF_UP),
        Decimal(statistics.median(minutes)).quantize(q, ROUND_HALF_UP),
    )


@dataclass(frozen=True)
class KpiInputs:
    period: Period
    as_of: date  # today, or the period's end when it is in the past
    segment: str | None
    recovered: Decimal  # paid in the period
    overdue: Decimal  # principal of the invoices past due by the period's end
    agreements: Sequence[tuple[date, Decimal]]  # local day, agreed total
    conversations_started: int  # first inbound message in the period
    conversations_converted: int  # of those, how many reached an agreement
    handoff_reasons: Sequence[str]  # one per handoff created in the period
    open_due_dates: Sequence[date]
    messages_received: int
    messages_sent: int
    installments: Sequence[tuple[date, date | None]]  # due date, local day paid
    handoff_responses: Sequence[tuple[datetime, datetime | None]]
    # Dunning: one (step, delivery status of its message) per reminder sent in the period; the
    # reason of each reminder skipped that was due in the period; the status of each agreement
    # made in the period (the same agreements as ``agreements``).
    reminders_sent: Sequence[tuple[str, str | None]] = ()
    reminders_skipped: Sequence[str] = ()
    agreement_statuses: Sequence[str] = ()


@dataclass(frozen=True)
class DunningFigures:
    sent: int = 0
    by_step: dict[str, int] = field(default_factory=dict)  # most sent first
    by_status: dict[str, int] = field(default_factory=dict)  # the messages' delivery status
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    broken: int = 0  # agreements of the period that broke (an installment left unpaid)
    broken_pct: Decimal | None = None  # of the agreements of the period


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda x: (-x[1], x[0])))


def dunning_figures(i: KpiInputs) -> DunningFigures:
    broken = sum(1 for s in i.agreement_statuses if s == "broken")
    return DunningFigures(
        sent=len(i.reminders_sent),
        by_step=_ranked(Counter(step for step, _ in i.reminders_sent)),
        by_status=_ranked(Counter(status or "pending" for _, status in i.reminders_sent)),
        skipped_by_reason=_ranked(Counter(i.reminders_skipped)),
        broken=broken,
        broken_pct=pct(broken, len(i.agreement_statuses)),
    )


@dataclass(frozen=True)
class KpiReport:
    inputs: KpiInputs
    recovery_rate_pct: Decimal | None
    per_day: list[DayPoint]
    agreements_count: int
    agreements_value: Decimal
    conversion_pct: Decimal | None
    handoffs_by_reason: dict[str, tuple[int, Decimal | None]] = field(default_factory=dict)
    handoff_rate_pct: Decimal | None = None
    average_days_overdue: Decimal | None = None
    promises_kept: int = 0
    promises_due: int = 0
    promise_kept_pct: Decimal | None = None
    first_response: ResponseTimes = ResponseTimes(0, 0, None, None)
    dunning: DunningFigures = DunningFigures()


def compute(i: KpiInputs) -> KpiReport:
    per_day = agreements_per_day(i.period, i.agreements)
    reasons = Counter(i.handoff_reasons)
    kept, due = promise_kept(i.installments, i.period, i.as_of)
    return KpiReport(
        inputs=i,
        recovery_rate_pct=pct(i.recovered, i.overdue),
        per_day=per_day,
        agreements_count=sum(p.count for p in per_day),
        agreements_value=sum((p.value for p in per_day), ZERO),
        conversion_pct=pct(i.conversations_converted, i.conversations_started),
        handoffs_by_reason={
            r: (n, pct(n, i.conversations_started))
            for r, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0]))
        },
        handoff_rate_pct=pct(sum(reasons.values()), i.conversations_started),
        average_days_overdue=average_days_overdue(i.open_due_dates, i.as_of),
        promises_kept=kept,
        promises_due=due,
        promise_kept_pct=pct(kept, due),
        first_response=first_response_times(i.handoff_responses),
        dunning=dunning_figures(i),
    )


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def report_to_dict(r: KpiReport) -> dict[str, object]:
    i = r.inputs
    return {
        "period": {"start": i.period.start.isoformat(), "end": i.period.end.isoformat()},
        "segment": i.segment,
        "recovery": {
            "recovered": str(i.recovered),
            "overdue": str(i.overdue),
            "rate_pct": _s(r.recovery_rate_pct),
        },
        "agreements": {
            "count": r.agreements_count,
            "value": str(r.agreements_value),
            "per_day": [
                {"day": p.day.isoformat(), "count": p.count, "value": str(p.value)} for p in r.per_day
            ],
        },
        "conversion": {
            "conversations": i.conversations_started,
            "with_agreement": i.conversations_converted,
            "rate_pct": _s(r.conversion_pct),
        },
        "handoffs": {
            "count": len(i.handoff_reasons),
            "rate_pct": _s(r.handoff_rate_pct),
            "by_reason": [
                {"reason": k, "count": n, "rate_pct": _s(p)} for k, (n, p) in r.handoffs_by_reason.items()
            ],
        },
        "open_portfolio": {
            "invoices": len(i.open_due_dates),
            "average_days_overdue": _s(r.average_days_overdue),
        },
        "messages": {"sent": i.messages_sent, "received": i.messages_received},
        "promises": {"due": r.promises_due, "kept": r.promises_kept, "kept_pct": _s(r.promise_kept_pct)},
        "first_response": {
            "answered": r.first_response.answered,
            "unanswered": r.first_response.unanswered,
            "average_minutes": _s(r.first_response.average_minutes),
            "median_minutes": _s(r.first_response.median_minutes),
        },
        "dunning": {
            "reminders_sent": r.dunning.sent,
            "by_step": [{"step": k, "count": n} for k, n in r.dunning.by_step.items()],
            "messages_by_status": [{"status": k, "count": n} for k, n in r.dunning.by_status.items()],
            "skipped_by_reason": [{"reason": k, "count": n} for k, n in r.dunning.skipped_by_reason.items()],
            "broken_agreements": {
                "count": r.dunning.broken,
                "of": len(i.agreement_statuses),
                "rate_pct": _s(r.dunning.broken_pct),
            },
        },
    }


def report_rows(r: KpiReport) -> list[tuple[str, str, str]]:
    """(indicator, breakdown, value) rows for the CSV export."""
    d = report_to_dict(r)
    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: object, key: str = "") -> None:
        rows.append((name, key, "" if value is None else str(value)))

    rec, agr, conv = d["recovery"], d["agreements"], d["conversion"]
    hand, port, msgs = d["handoffs"], d["open_portfolio"], d["messages"]
    prom, resp = d["promises"], d["first_response"]
    assert isinstance(rec, dict) and isinstance(agr, dict) and isinstance(conv, dict)
    assert isinstance(hand, dict) and isinstance(port, dict) and isinstance(msgs, dict)
    assert isinstance(prom, dict) and isinstance(resp, dict)
    add("valor_recuperado", rec["recovered"])
    add("valor_vencido", rec["overdue"])
    add("taxa_recuperacao_pct", rec["rate_pct"])
    add("acordos", agr["count"])
    add("acordos_valor", agr["value"])
    for p in agr["per_day"]:
        add("acordos_dia", p["count"], p["day"])
        add("acordos_dia_valor", p["value"], p["day"])
    add("conversas_iniciadas", conv["conversations"])
    add("conversas_com_acordo", conv["with_agreement"])
    add("conversao_pct", conv["rate_pct"])
    add("transferencias", hand["count"])
    add("transferencias_pct", hand["rate_pct"])
    for h in hand["by_reason"]:
        add("transferencias_motivo", h["count"], h["reason"])
        add("transferencias_motivo_pct", h["rate_pct"], h["reason"])
    add("faturas_em_aberto", port["invoices"])
    add("media_dias_atraso", port["average_days_overdue"])
    add("mensagens_enviadas", msgs["sent"])
    add("mensagens_recebidas", msgs["received"])
    add("parcelas_vencidas", prom["due"])
    add("parcelas_pagas_em_dia", prom["kept"])
    add("promessas_cumpridas_pct", prom["kept_pct"])
    add("primeira_resposta_media_min", resp["average_minutes"])
    add("primeira_resposta_mediana_min", resp["median_minutes"])
    add("transferencias_sem_resposta", resp["unanswered"])
    dun = d["dunning"]
    assert isinstance(dun, dict)
    add("lembretes_enviados", dun["reminders_sent"])
    for x in dun["by_step"]:
        add("lembretes_etapa", x["count"], x["step"])
    for x in dun["messages_by_status"]:
        add("lembretes_status", x["count"], x["status"])
    for x in dun["skipped_by_reason"]:
        add("lembretes_suspensos_motivo", x["count"], x["reason"])
    add("acordos_rompidos", dun["broken_agreements"]["count"])
    add("acordos_rompidos_pct", dun["broken_agreements"]["rate_pct"])
    return rows
