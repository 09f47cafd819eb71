"""Loads the rows the KPI figures are computed from (server/domain/kpis.py), for a period of
local (São Paulo) days and, optionally, one debtor segment."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from server.db.models import (
    Agreement,
    AgreementInstallment,
    AgreementStatus,
    Author,
    Contact,
    Conversation,
    Debtor,
    Direction,
    Handoff,
    InstallmentStatus,
    Invoice,
    InvoiceStatus,
    Message,
    ScheduledReminder,
)
from server.domain.kpis import ZERO, KpiInputs, KpiReport, Period, compute, report_rows

TZ = ZoneInfo("America/Sao_Paulo")
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TZ).astimezone(UTC)


def _local_day(at: datetime) -> date:
    return at.astimezone(TZ).date()


def segments(session: Session) -> list[str]:
    rows = session.scalars(select(Debtor.segment).where(Debtor.segment.is_not(None)).distinct()).all()
    return sorted({s for s in rows if s})


def _by_segment(stmt: S, segment: str | None) -> S:
    # Every query joins Debtor under this name; the comparison ignores case like the policy does.
    if segment is None:
        return stmt
    return stmt.where(func.lower(Debtor.segment) == segment.strip().lower())


def load_inputs(session: Session, period: Period, today: date, segment: str | None) -> KpiInputs:
    start, end = _utc(period.start), _utc(period.end + timedelta(days=1))
    as_of = min(today, period.end + timedelta(days=1))

    paid = _by_segment(
        select(
            func.coalesce(
                func.sum(func.coalesce(AgreementInstallment.paid_amount, AgreementInstallment.amount)), 0
            )
        )
        .join(Agreement, AgreementInstallment.agreement_id == Agreement.id)
        .join(Debtor, Agreement.debtor_id == Debtor.id)
        .where(AgreementInstallment.status == InstallmentStatus.PAID)
        .where(AgreementInstallment.paid_at >= start, AgreementInstallment.paid_at < end),
        segment,
    )
    overdue = _by_segment(
        select(func.coalesce(func.sum(Invoice.principal), 0))
        .join(Debtor, Invoice.debtor_id == Debtor.id)
        .where(Invoice.status != InvoiceStatus.CANCELLED, Invoice.due_date < period.end + timedelta(days=1)),
        segment,
    )
    agreements = session.execute(
        _by_segment(
            select(Agreement.created_at, Agreement.agreed_total, Agreement.status)
            .join(Debtor, Agreement.debtor_id == Debtor.id)
            .where(Agreement.created_at >= start, Agreement.created_at < end)
            .where(Agreement.status != AgreementStatus.CANCELLED),
            segment,
        )
    ).all()

    # A conversation "starts" with its first inbound message; its segment is its contact's debtor's.
    first_inbound = (
        select(Message.conversation_id, func.min(Message.created_at).label("first_at"))
        .where(Message.direction == Direction.INBOUND)
        .group_by(Message.conversation_id)
        .subquery()
    )
    started_stmt = select(first_inbound.c.conversation_id).where(
        first_inbound.c.first_at >= start, first_inbound.c.first_at < end
    )
    if segment is not None:
        started_stmt = _by_segment(
            started_stmt.join(Conversation, Conversation.id == first_inbound.c.conversation_id)
            .join(Contact, Conversation.contact_id == Contact.id)
            .join(Debtor, Contact.debtor_id == Debtor.id),
            segment,
        )
    started = set(session.scalars(started_stmt).all())
    converted = set(
        session.scalars(
            select(Agreement.conversation_id)
            .where(Agreement.conversation_id.in_(started))
            .where(Agreement.status != AgreementStatus.CANCELLED)
        ).all()
    ) if started else set()  # fmt: skip

    handoff_stmt = select(Handoff.reason, Handoff.created_at, Handoff.conversation_id).where(
        Handoff.created_at >= start, Handoff.created_at < end
    )
    if segment is not None:
        handoff_stmt = _by_segment(
            handoff_stmt.join(Conversation, Conversation.id == Handoff.conversation_id)
            .join(Contact, Conversation.contact_id == Contact.id)
            .join(Debtor, Contact.debtor_id == Debtor.id),
            segment,
        )
    handoffs = session.execute(handoff_stmt).all()
    responses = []
    for h in handoffs:
        replied = session.scalar(
            select(func.min(Message.created_at)).where(
                Message.conversation_id == h.conversation_id,
                Message.author == Author.COLLECTOR,
                Message.created_at >= h.created_at,
            )
        )
        responses.append((h.created_at, replied))

    open_due = session.scalars(
        _by_segment(
            select(Invoice.due_date)
            .join(Debtor, Invoice.debtor_id == Debtor.id)
            .where(Invoice.status == InvoiceStatus.OPEN),
            segment,
        )
    ).all()

    def count_messages(direction: Direction) -> int:
        stmt = select(func.count(Message.id)).where(
            Message.direction == direction, Message.created_at >= start, Message.created_at < end
        )
        if segment is not None:
            stmt = _by_segment(
                stmt.join(Conversation, Conversation.id == Message.conversation_id)
                .join(Contact, Conversation.contact_id == Contact.id)
                .join(Debtor, Contact.debtor_id == Debtor.id),
                segment,
            )
        return int(session.scalar(stmt) or 0)

    installments = session.execute(
        _by_segment(
            select(AgreementInstallment.due_date, AgreementInstallment.paid_at)
            .join(Agreement, AgreementInstallment.agreement_id == Agreement.id)
            .join(Debtor, Agreement.debtor_id == Debtor.id)
            .where(Agreement.status != AgreementStatus.CANCELLED)
            .where(
                AgreementInstallment.due_date >= period.start, AgreementInstallment.due_date <= period.end
            ),
            segment,
        )
    ).all()

    # Dunning: reminders sent in the period (with their message's delivery status), reminders
    # due in the period and skipped (opt-out, paid, dispute…), both by the contact's debtor.
    reminders_sent = session.execute(
        _by_segment(
            select(ScheduledReminder.step_id, Message.status)
            .join(Contact, Contact.id == ScheduledReminder.contact_id)
            .join(Debtor, Debtor.id == Contact.debtor_id)
            .outerjoin(Message, Message.id == ScheduledReminder.message_id)
            .where(ScheduledReminder.status == "sent")
            .where(ScheduledReminder.sent_at >= start, ScheduledReminder.sent_at < end),
            segment,
        )
    ).all()
    reminders_skipped = session.scalars(
        _by_segment(
            select(ScheduledReminder.reason)
            .join(Contact, Contact.id == ScheduledReminder.contact_id)
            .join(Debtor, Debtor.id == Contact.debtor_id)
            .where(ScheduledReminder.status == "skipped")
            .where(ScheduledReminder.due_at >= start, ScheduledReminder.due_at < end),
            segment,
        )
    ).all()

    def money(value: object) -> Decimal:
        return Decimal(str(value or 0)).quantize(ZERO)

    return KpiInputs(
        period=period,
        as_of=as_of,
        segment=segment,
        recovered=money(session.scalar(paid)),
        overdue=money(session.scalar(overdue)),
        agreements=[(_local_day(a.created_at), a.agreed_total) for a in agreements],
        conversations_started=len(started),
        conversations_converted=len(converted),
        handoff_reasons=[h.reason for h in handoffs],
        open_due_dates=list(open_due),
        messages_received=count_messages(Direction.INBOUND),
        messages_sent=count_messages(Direction.OUTBOUND),
        installments=[(i.due_date, _local_day(i.paid_at) if i.paid_at else None) for i in installments],
        handoff_responses=responses,
        reminders_sent=[(r.step_id, r.status) for r in reminders_sent],
        reminders_skipped=[r or "" for r in reminders_skipped],
        agreement_statuses=[str(getattr(a.status, "value", a.status)) for a in agreements],
    )


def kpi_report(session: Session, period: Period, today: date, segment: str | None = None) -> KpiReport:
    return compute(load_inputs(session, period, today, segment))


def report_csv(report: KpiReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    i = report.inputs
    writer.writerow(["indicador", "detalhe", "valor"])
    writer.writerow(
        ["periodo", f"{i.period.start.isoformat()}..{i.period.end.isoformat()}", i.segment or "todos"]
    )
    writer.writerows(report_rows(report))
    return out.getvalue()
