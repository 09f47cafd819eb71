"""The dunning schedule: rules versions, planning reminders into ``scheduled_reminders``,
sending each one at most once through the Outbox, and broken agreements.

The table is the durable schedule (a restart loses nothing): planning inserts one row per
idempotency key (``ON CONFLICT DO NOTHING``), and sending claims a row with a conditional UPDATE
(``scheduled → sending``), so however many workers or queue retries run, a reminder is sent
once. The queue (arq on Redis, or the in-process loop) only decides *who* sends *when*.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.base import MessageKind, OutboundChannel, OutboundMessage
from bot.outbox import Outbox
from server.clock import Clock
from server.db import repositories as repo
from server.db.models import (
    Agreement,
    AgreementInstallment,
    AgreementInvoice,
    AgreementStatus,
    Author,
    Channel,
    Contact,
    Conversation,
    Debtor,
    Direction,
    DunningRulesVersion,
    InstallmentStatus,
    Invoice,
    InvoiceStatus,
    Message,
    ScheduledReminder,
)
from server.domain.contact_hours import DEFAULT_CONTACT_HOURS, ContactHours, timezone_for_phone
from server.domain.conversation_state import InvalidTransition
from server.domain.dunning import (
    RENEGOTIATION_STEP,
    BrokenAction,
    Decision,
    DunningRules,
    InvalidDunningRules,
    SendFacts,
    Target,
    Template,
    decide,
    idempotency_key,
    render_text,
    rules_from_dict,
    rules_to_dict,
    step_due_at,
    validate_rules,
)
from server.domain.formatting import format_brl, format_date
from server.domain.money import updated_balance
from server.domain.pix import StaticPix, encode_static
from server.services import dunning_texts as texts
from server.services.creditor import late_charge_rules
from server.services.handoffs import request_handoff
from server.services.rate_limit import LocalRateLimiter, RateLimiter
from server.settings import Settings

log = logging.getLogger(__name__)

SCHEDULED, SENDING, SENT, SKIPPED, FAILED = "scheduled", "sending", "sent", "skipped", "failed"
STALE_CLAIM = timedelta(minutes=10)  # a claim older than this was interrupted (crash, kill)
SESSION_WINDOW = timedelta(hours=24)


# --- template catalogue (configuration) --------------------------------------------------------


def load_catalogue(path: Path) -> dict[str, Template]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        key: Template(key, t["content_sid"], {str(k): v for k, v in t["variables"].items()}, t["body"])
        for key, t in data["templates"].items()
    }


# --- rules versions ----------------------------------------------------------------------------


def active_rules(session: Session) -> tuple[DunningRulesVersion, DunningRules]:
    """The highest version; the documented default becomes version 1 on first use."""
    version = session.scalar(
        select(DunningRulesVersion).order_by(DunningRulesVersion.version.desc()).limit(1)
    )
    if version is None:
        version = DunningRulesVersion(version=1, data=rules_to_dict(texts.DEFAULT_RULES))
        session.add(version)
        try:
            session.flush()
        except IntegrityError:  # another process created version 1 first
            session.rollback()
            return active_rules(session)
    return version, rules_from_dict(version.data)


def publish_rules(
    session: Session, rules: DunningRules, catalogue: Mapping[str, Template], user_id: int | None
) -> DunningRulesVersion:
    errors = validate_rules(rules, dict(catalogue))
    if errors:
        raise InvalidDunningRules(errors)
    active_rules(session)
    current = session.scalar(select(func.max(DunningRulesVersion.version))) or 0
    version = DunningRulesVersion(version=current + 1, data=rules_to_dict(rules), created_by_id=user_id)
    session.add(version)
    session.flush()
    return version


def rule_versions(session: Session) -> Sequence[DunningRulesVersion]:
    active_rules(session)
    return session.scalars(select(DunningRulesVersion).order_by(DunningRulesVersion.version.desc())).all()


# --- routing: which channel and address reach a contact -------------------------------------


def route_for(contact: Contact, channels: Iterable[Channel]) -> tuple[Channel, str] | None:
    """WhatsApp first (the debtor's phone), then Telegram when linked, then the sandbox."""
    enabled = set(channels)
    if contact.phone_e164 and Channel.WHATSAPP in enabled:
        return Channel.WHATSAPP, contact.phone_e164
    if contact.telegram_user_id is not None and Channel.TELEGRAM in enabled:
        return Channel.TELEGRAM, str(contact.telegram_user_id)
    if contact.phone_e164 and Channel.SANDBOX in enabled:
        return Channel.SANDBOX, contact.phone_e164
    return None


def conversation_for(session: Session, channel: Channel, address: str) -> Conversation:
    """The conversation with this address, opened when the creditor writes first. It stays
    unverified (no contact_id): the debtor still proves who they are before any disclosure."""
    existing = repo.conversation_by_address(session, channel, address)
    if existing is not None:
        return existing
    conversation = Conversation(channel=channel, address=address)
    try:
        with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        found = repo.conversation_by_address(session, channel, address)
        assert found is not None
        return found
    return conversation


# --- planning ----------------------------------------------------------------------------------


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(ScheduledReminder)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    return max(result.rowcount, 0)


def plan(
    session: Session, rules: DunningRules, now: datetime, horizon_days: int = 2, chunk: int = 2000
) -> int:
    """Inserts the reminders whose step day falls in [today − max_delay, today + horizon];
    keys already present are left alone. Returns how many rows were new. The caller commits."""
    today = now.astimezone(ZoneInfo("America/Sao_Paulo")).date()
    first, last = today - timedelta(days=rules.max_delay_days), today + timedelta(days=horizon_days)
    created = 0
    for target in (Target.INVOICE, Target.INSTALLMENT):
        steps = rules.steps_for(target)
        if not steps:
            continue
        offsets = [s.offset_days for s in steps]
        lo, hi = first - timedelta(days=max(offsets)), last - timedelta(days=min(offsets))
        rows: list[dict[str, Any]] = []
        for item in _targets(session, target, lo, hi):
            target_id, due_date, amount, segment, contact_id, phone = item
            tz = timezone_for_phone(phone)
            for step in steps:
                day = due_date + timedelta(days=step.offset_days)
                if not first <= day <= last or not step.conditions.matches(amount, segment):
                    continue
                rows.append({
                    "idempotency_key": idempotency_key(target, target_id, step.id, contact_id),
                    "target": target.value,
                    "invoice_id": target_id if target == Target.INVOICE else None,
                    "installment_id": target_id if target == Target.INSTALLMENT else None,
                    "contact_id": contact_id, "step_id": step.id,
                    "due_at": step_due_at(due_date, step, rules.send_hour, tz),
                    "status": SCHEDULED, "attempts": 0, "created_at": now, "updated_at": now,
                })  # fmt: skip
                if len(rows) >= chunk:
                    created += _insert_ignore(session, rows)
                    rows = []
        created += _insert_ignore(session, rows)
    return created


def _targets(
    session: Session, target: Target, lo: date, hi: date
) -> Iterable[tuple[int, date, Decimal, str | None, int, str | None]]:
    """(target id, due date, amount, segment, contact id, phone) for open debts due in [lo, hi],
    one row per reachable contact (not opted out) of a debtor free to be contacted."""
    free = and_(Debtor.legal_hold.is_(False), Debtor.in_dispute.is_(False), Contact.opted_out_at.is_(None))
    if target == Target.INVOICE:
        stmt = (
            select(
                Invoice.id,
                Invoice.due_date,
                Invoice.principal,
                Debtor.segment,
                Contact.id,
                Contact.phone_e164,
            )
            .join(Debtor, Debtor.id == Invoice.debtor_id)
            .join(Contact, Contact.debtor_id == Debtor.id)
            .where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date.between(lo, hi), free)
        )
    else:
        stmt = (
            select(AgreementInstallment.id, AgreementInstallment.due_date, AgreementInstallment.amount,
                   Debtor.segment, Contact.id, Contact.phone_e164)
            .join(Agreement, Agreement.id == AgreementInstallment.agreement_id)
            .join(Debtor, Debtor.id == Agreement.debtor_id)
            .join(Contact, Contact.debtor_id == Debtor.id)
            .where(AgreementInstallment.status == InstallmentStatus.OPEN, Agreement.status == AgreementStatus.ACTIVE,
                   AgreementInstallment.due_date.between(lo, hi), free,
                   or_(Agreement.contact_id.is_(None), Agreement.contact_id == Contact.id))
        )  # fmt: skip
    for row in session.execute(stmt.execution_options(yield_per=5000)):
        yield row[0], row[1], row[2], row[3], row[4], row[5]


# --- broken agreements -------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenAgreement:
    agreement_id: int
    installment_id: int
    action: BrokenAction


def detect_broken(
    session: Session, rules: DunningRules, now: datetime, channels: Iterable[Channel]
) -> list[BrokenAgreement]:
    """Active agreements with an installment unpaid ``broken_after_days`` after its due date
    become broken; their invoices reopen (the debtor may negotiate again); then either a
    renegotiation invitation is scheduled or a collector gets a handoff. The caller commits."""
    today = now.astimezone(ZoneInfo("America/Sao_Paulo")).date()
    limit = today - timedelta(days=rules.broken_after_days)
    late = session.scalars(
        select(AgreementInstallment)
        .join(Agreement, Agreement.id == AgreementInstallment.agreement_id)
        .where(Agreement.status == AgreementStatus.ACTIVE, AgreementInstallment.status == InstallmentStatus.OPEN,
               AgreementInstallment.due_date <= limit)
        .order_by(AgreementInstallment.due_date)
    ).all()  # fmt: skip
    broken: list[BrokenAgreement] = []
    enabled = list(channels)
    for installment in late:
        agreement = installment.agreement
        if agreement.status != AgreementStatus.ACTIVE:
            continue  # two late installments of one agreement
        agreement.status = AgreementStatus.BROKEN
        for link in session.scalars(
            select(AgreementInvoice).where(AgreementInvoice.agreement_id == agreement.id)
        ):
            link.active_invoice_id = None
            if link.invoice.status == InvoiceStatus.RENEGOTIATED:
                link.invoice.status = InvoiceStatus.OPEN
        contacts = _agreement_contacts(session, agreement)
        if rules.broken_action == BrokenAction.RENEGOTIATE:
            _insert_ignore(session, [
                {"idempotency_key": idempotency_key(Target.INSTALLMENT, installment.id, RENEGOTIATION_STEP, c.id),
                 "target": Target.INSTALLMENT.value, "invoice_id": None, "installment_id": installment.id,
                 "contact_id": c.id, "step_id": RENEGOTIATION_STEP, "due_at": now, "status": SCHEDULED,
                 "attempts": 0, "created_at": now, "updated_at": now}
                for c in contacts
            ])  # fmt: skip
        else:
            handoff_for(session, agreement, contacts, "broken_agreement", now, texts.NOTE_BROKEN.format(
                agreement=agreement.public_id[:8], document=document_for(installment),
                due_date=format_date(installment.due_date)), enabled)  # fmt: skip
        session.flush()
        broken.append(BrokenAgreement(agreement.id, installment.id, rules.broken_action))
    return broken


def _agreement_contacts(session: Session, agreement: Agreement) -> list[Contact]:
    if agreement.contact_id is not None:
        contact = session.get(Contact, agreement.contact_id)
        return [contact] if contact is not None else []
    return list(
        session.scalars(select(Contact).where(Contact.debtor_id == agreement.debtor_id).order_by(Contact.id))
    )


def handoff_for(
    session: Session,
    agreement: Agreement | None,
    contacts: Sequence[Contact],
    reason: str,
    now: datetime,
    note: str,
    channels: Iterable[Channel],
) -> bool:
    """A handoff on the agreement's conversation, or on the first reachable contact's."""
    conversation = (
        session.get(Conversation, agreement.conversation_id)
        if agreement and agreement.conversation_id
        else None
    )
    if conversation is None:
        for contact in contacts:
            route = route_for(contact, channels)
            if route is not None:
                conversation = conversation_for(session, *route)
                break
    if conversation is None:
        return False
    try:
        request_handoff(session, conversation, reason, now, note)
    except InvalidTransition:  # already with a collector: the note would only duplicate theirs
        return False
    return True


def stop_reminders(
    session: Session, *, invoice_ids: Sequence[int] = (), installment_ids: Sequence[int] = ()
) -> int:
    """Pending reminders of paid debts end now (sending re-checks anyway)."""
    conditions = []
    if invoice_ids:
        conditions.append(ScheduledReminder.invoice_id.in_(invoice_ids))
    if installment_ids:
        conditions.append(ScheduledReminder.installment_id.in_(installment_ids))
    if not conditions:
        return 0
    result = session.execute(
        update(ScheduledReminder)
        .where(ScheduledReminder.status == SCHEDULED, or_(*conditions))
        .values(status=SKIPPED, reason="paid")
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


# --- rendering ---------------------------------------------------------------------------------


def document_for(installment: AgreementInstallment) -> str:
    if installment.number == 0:
        return texts.DOCUMENT_DOWN_PAYMENT
    return texts.DOCUMENT_INSTALLMENT.format(number=installment.number)


def invoice_txid(invoice: Invoice) -> str:
    return f"FAT{invoice.id:012d}"  # static BR Code txid: [A-Za-z0-9]{1,25}


def first_name(name: str) -> str:
    return (name.split() or [""])[0]


def compose(
    decision: Decision, template: Template, text: str, values: dict[str, str]
) -> tuple[OutboundMessage, str]:
    """The channel message and its transcript text."""
    if decision == Decision.SEND_TEMPLATE:
        body = template.render_body(values)
        message = OutboundMessage(
            MessageKind.TEMPLATE, text=body, template_id=template.content_sid,
            variables=template.render_variables(values),
        )  # fmt: skip
        return message, body
    rendered = render_text(text, values)
    return OutboundMessage.of_text(rendered), rendered


# --- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueReminder:
    id: int
    key: str
    due_at: datetime


class ReminderSender:
    """Sends one scheduled reminder, at most once, after every check of ``decide``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        outbox: Outbox,
        channels: Mapping[Channel, OutboundChannel],
        clock: Clock,
        settings: Settings,
        catalogue: Mapping[str, Template],
        limiter: RateLimiter | None = None,
        hours: Callable[[Session], ContactHours] = lambda _session: DEFAULT_CONTACT_HOURS,
    ) -> None:
        self._sessions = session_factory
        self._outbox = outbox
        self._channels = channels
        self._clock = clock
        self._settings = settings
        self._catalogue = catalogue
        self._limiter = limiter or LocalRateLimiter(settings.send_rate_per_second)
        self._hours = hours

    def send(self, reminder_id: int) -> str:
        """Returns what happened: sent, deferred:<reason>, skipped:<reason>, failed, or
        not_due (another worker has it, or it is no longer scheduled)."""
        now = self._clock.now()
        with self._sessions() as session:
            claimed = session.execute(
                update(ScheduledReminder)
                .where(ScheduledReminder.id == reminder_id, ScheduledReminder.status == SCHEDULED,
                       ScheduledReminder.due_at <= now)
                .values(status=SENDING, claimed_at=now, attempts=ScheduledReminder.attempts + 1)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
            assert isinstance(claimed, CursorResult)
            if claimed.rowcount != 1:
                session.rollback()
                return "not_due"
            session.commit()
        try:
            return self._send_claimed(reminder_id, now)
        except Exception:
            log.exception("reminder %s failed", reminder_id)
            self._finish(reminder_id, FAILED, "error")
            return "failed"

    def _send_claimed(self, reminder_id: int, now: datetime) -> str:
        with self._sessions() as session:
            row = session.get(ScheduledReminder, reminder_id)
            assert row is not None
            _, rules = active_rules(session)
            contact = session.get(Contact, row.contact_id)
            assert contact is not None
            debtor = contact.debtor
            tz = timezone_for_phone(contact.phone_e164)
            route = route_for(contact, self._channels)
            if route is None:
                self._set(session, row, SKIPPED, "no_channel")
                return "skipped:no_channel"
            channel, address = route
            target = Target(row.target)
            values, facts_target = self._target_facts(session, row, target, now)
            step = rules.step(row.step_id)
            if row.step_id == RENEGOTIATION_STEP:
                template_key, text = rules.renegotiation_template, rules.renegotiation_text
            else:
                template_key, text = (step.template, step.text) if step else ("", "")
            conversation = repo.conversation_by_address(session, channel, address)
            last_inbound = conversation.last_inbound_at if conversation else None
            day_start = now.astimezone(ZoneInfo(tz)).replace(hour=0, minute=0, second=0, microsecond=0)
            facts = SendFacts(
                now=now, tz=tz, due_at=row.due_at, channel=channel.value,
                opted_out=contact.opted_out_at is not None, legal_hold=debtor.legal_hold,
                in_dispute=debtor.in_dispute, target_settled=facts_target[0], under_agreement=facts_target[1],
                agreement_active=facts_target[2],
                sent_today=self._sent_since(session, contact.id, day_start),
                sent_week=self._sent_since(session, contact.id, now - timedelta(days=7)),
                within_window=last_inbound is not None and now - last_inbound < SESSION_WINDOW,
                step_exists=step is not None or row.step_id == RENEGOTIATION_STEP,
            )  # fmt: skip
            verdict = decide(facts, rules, target, self._hours(session))
            if verdict.decision == Decision.DEFER:
                assert verdict.until is not None
                row.status, row.reason, row.due_at = SCHEDULED, verdict.reason, verdict.until
                session.commit()
                return f"deferred:{verdict.reason}"
            if verdict.decision == Decision.SKIP:
                self._set(session, row, SKIPPED, verdict.reason)
                return f"skipped:{verdict.reason}"
            template = self._catalogue.get(template_key)
            if template is None:
                self._set(session, row, SKIPPED, "unknown_template")
                return "skipped:unknown_template"
            values.update(contact_name=first_name(contact.name), debtor_name=debtor.legal_name,
                          creditor=self._settings.creditor_trade_name)  # fmt: skip
            message, _ = compose(verdict.decision, template, text, values)
            conversation = conversation_for(session, channel, address)
            public_id, key = conversation.public_id, row.idempotency_key
            row.channel = channel.value
            session.commit()
        self._limiter.acquire(f"{channel.value}:{self._sender_id(channel)}")
        message_id = self._outbox.send_message(
            public_id, message, author=Author.SYSTEM, extra_payload={"reminder": key}
        )
        with self._sessions() as session:
            sent = session.get(Message, message_id)
            row = session.get(ScheduledReminder, reminder_id)
            assert row is not None and sent is not None
            row.message_id = message_id
            if sent.status == "failed":
                self._set(session, row, FAILED, (sent.error_code or "send_failed")[:40])
                return "failed"
            row.sent_at = now
            self._set(
                session, row, SENT, "template" if verdict.decision == Decision.SEND_TEMPLATE else "text"
            )
        return "sent"

    def _sender_id(self, channel: Channel) -> str:
        if channel == Channel.WHATSAPP:
            return self._settings.twilio_whatsapp_from or ""
        return "default"

    def _target_facts(
        self, session: Session, row: ScheduledReminder, target: Target, now: datetime
    ) -> tuple[dict[str, str], tuple[bool, bool, bool]]:
        """Template values and (settled, under an agreement, agreement in the step's state)."""
        today = now.astimezone(ZoneInfo(self._settings.timezone)).date()
        if target == Target.INVOICE:
            invoice = session.get(Invoice, row.invoice_id)
            assert invoice is not None
            settled = invoice.status in (InvoiceStatus.PAID, InvoiceStatus.CANCELLED)
            covered = (
                invoice.status == InvoiceStatus.RENEGOTIATED
                or session.scalar(
                    select(AgreementInvoice.id).where(AgreementInvoice.active_invoice_id == invoice.id)
                )
                is not None
            )
            amount = updated_balance(invoice.principal, invoice.due_date, today,
                                     late_charge_rules(invoice.debtor.creditor)).total  # fmt: skip
            if invoice.txid is None:
                invoice.txid = invoice_txid(invoice)
            values = {
                "document": texts.DOCUMENT_INVOICE.format(number=invoice.number), "amount": format_brl(amount),
                "due_date": format_date(invoice.due_date), "pix_code": self._pix(invoice.txid, amount),
            }  # fmt: skip
            return values, (settled, covered, False)
        installment = session.get(AgreementInstallment, row.installment_id)
        assert installment is not None
        status = installment.agreement.status
        wanted = AgreementStatus.BROKEN if row.step_id == RENEGOTIATION_STEP else AgreementStatus.ACTIVE
        values = {
            "document": document_for(installment), "amount": format_brl(installment.amount),
            "due_date": format_date(installment.due_date), "pix_code": installment.pix_code,
        }  # fmt: skip
        settled = installment.status == InstallmentStatus.PAID and row.step_id != RENEGOTIATION_STEP
        return values, (settled, False, status == wanted)

    def _pix(self, txid: str, amount: Decimal) -> str:
        s = self._settings
        return encode_static(StaticPix(key=s.creditor_pix_key, merchant_name=s.creditor_trade_name,
                                       merchant_city=s.creditor_city, amount=amount, txid=txid))  # fmt: skip

    @staticmethod
    def _sent_since(session: Session, contact_id: int, since: datetime) -> int:
        return session.scalar(
            select(func.count()).select_from(ScheduledReminder)
            .where(ScheduledReminder.contact_id == contact_id, ScheduledReminder.status == SENT,
                   ScheduledReminder.sent_at >= since)
        ) or 0  # fmt: skip

    @staticmethod
    def _set(session: Session, row: ScheduledReminder, status: str, reason: str | None) -> None:
        row.status, row.reason = status, reason
        session.commit()

    def _finish(self, reminder_id: int, status: str, reason: str) -> None:
        with self._sessions() as session:
            row = session.get(ScheduledReminder, reminder_id)
            if row is not None and row.status == SENDING:
                self._set(session, row, status, reason)


# --- the scheduler: what is due now ------------------------------------------------------------


class DunningScheduler:
    """One tick: recover interrupted claims, plan the coming days, break late agreements, and
    list what is due. Any number of processes may tick at once; the table keeps them honest."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        channels: Iterable[Channel],
        horizon_days: int = 2,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._channels = list(channels)
        self._horizon = horizon_days

    def tick(self, limit: int = 10_000) -> list[DueReminder]:
        now = self._clock.now()
        with self._sessions() as session:
            _, rules = active_rules(session)
            session.commit()
            self.recover(session, now)
            plan(session, rules, now, self._horizon)
            session.commit()
            detect_broken(session, rules, now, self._channels)
            session.commit()
            rows = session.execute(
                select(ScheduledReminder.id, ScheduledReminder.idempotency_key, ScheduledReminder.due_at)
                .where(ScheduledReminder.status == SCHEDULED, ScheduledReminder.due_at <= now)
                .order_by(ScheduledReminder.due_at, ScheduledReminder.id)
                .limit(limit)
            ).all()
        return [DueReminder(r[0], r[1], r[2]) for r in rows]

    def recover(self, session: Session, now: datetime) -> int:
        """Claims older than ``STALE_CLAIM``: sent if the Outbox stored their message (it is
        stored before it is sent), scheduled again otherwise (it never left)."""
        stale = session.scalars(
            select(ScheduledReminder).where(ScheduledReminder.status == SENDING,
                                            ScheduledReminder.claimed_at < now - STALE_CLAIM)
        ).all()  # fmt: skip
        for row in stale:
            message = _message_of(session, row)
            if message is not None:
                row.status, row.message_id, row.sent_at, row.reason = (
                    SENT,
                    message.id,
                    row.claimed_at,
                    "recovered",
                )
            else:
                row.status, row.reason = SCHEDULED, "recovered"
        session.commit()
        return len(stale)


def _message_of(session: Session, row: ScheduledReminder) -> Message | None:
    contact = session.get(Contact, row.contact_id)
    if contact is None:
        return None
    addresses = [a for a in (contact.phone_e164, str(contact.telegram_user_id or "")) if a]
    candidates = session.scalars(
        select(Message).join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.address.in_(addresses), Message.direction == Direction.OUTBOUND,
               Message.author == Author.SYSTEM)
    ).all()  # fmt: skip
    return next((m for m in candidates if (m.payload or {}).get("reminder") == row.idempotency_key), None)


def dunning_kpis(session: Session) -> dict[str, Any]:
    reminders = dict(
        session.execute(
            select(ScheduledReminder.status, func.count()).group_by(ScheduledReminder.status)
        ).all()
    )  # type: ignore[arg-type]
    skipped = dict(session.execute(
        select(ScheduledReminder.reason, func.count()).where(ScheduledReminder.status == SKIPPED)
        .group_by(ScheduledReminder.reason)
    ).all())  # type: ignore[arg-type]  # fmt: skip
    agreements = dict(
        session.execute(select(Agreement.status, func.count()).group_by(Agreement.status)).all()
    )  # type: ignore[arg-type]
    total = sum(agreements.values())
    broken = agreements.get(AgreementStatus.BROKEN, 0)
    return {
        "reminders": {str(k): v for k, v in reminders.items()},
        "skipped_by_reason": {str(k): v for k, v in skipped.items()},
        "agreements": {str(getattr(k, "value", k)): v for k, v in agreements.items()},
        "broken_rate": round(broken / total, 4) if total else 0.0,
    }
