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
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.channels.base import MessageKind, OutboundChannel, OutboundMessage, SendError
from bot.outbox import PENDING, Outbox, RetryPolicy, apply_early_statuses
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
    EarlyStatus,
    InstallmentStatus,
    Invoice,
    InvoiceStatus,
    Message,
    ScheduledReminder,
)
from server.domain.contact_hours import ContactHours, timezone_for_phone
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
from server.services import app_settings
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
    """Bulk INSERT … ON CONFLICT (idempotency_key) DO NOTHING (PostgreSQL) / INSERT OR IGNORE
    (SQLite): one statement compiled once and executed over all the rows with the driver's
    executemany (psycopg pipelines one prepared statement; a multi-VALUES statement of thousands
    of parameters costs more to build and parse than to run). Returns how many rows were new."""
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ScheduledReminder.__table__).on_conflict_do_nothing(
        index_elements=["idempotency_key"]
    )
    result = session.execute(stmt, rows)
    assert isinstance(result, CursorResult)
    return max(result.rowcount, 0)


def plan(
    session: Session, rules: DunningRules, now: datetime, horizon_days: int = 2, chunk: int = 5000
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


@dataclass(frozen=True)
class _Prepared:
    """A claimed reminder whose message is stored (status pending) and ready to leave."""

    reminder_id: int
    message_id: int
    channel: Channel
    address: str
    message: OutboundMessage
    kind: str  # template | text


@dataclass(frozen=True)
class _Delivery:
    attempts: int
    status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def admin_contact_hours(session: Session) -> ContactHours:
    """The contact hours an admin set on /admin (environment defaults otherwise), applied in
    the debtor's own time zone; never on a Sunday (DESIGN §5), whatever the table says."""
    hours = app_settings.contact_hours(session)
    return ContactHours({day: window for day, window in hours.days.items() if day != 6})


class ReminderSender:
    """Sends scheduled reminders at most once each, after every check of ``decide``.

    Work goes in batches: one conditional UPDATE claims up to ``batch_size`` due reminders
    (``scheduled → sending``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent senders
    take disjoint rows, and the status condition alone keeps them disjoint anyway); one
    transaction decides them all and stores their messages (status ``pending``) before any
    leaves; ``concurrency`` threads send, each message paced by the per-sender rate limiter;
    one transaction records the outcomes. While a batch is on the wire the next one is
    prepared. A crash leaves rows in ``sending``: the scheduler's recovery marks those whose
    message was stored as sent (it may have left) and schedules the others again.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        outbox: Outbox,
        channels: Mapping[Channel, OutboundChannel],
        clock: Clock,
        settings: Settings,
        catalogue: Mapping[str, Template],
        limiter: RateLimiter | None = None,
        hours: Callable[[Session], ContactHours] = admin_contact_hours,
        *,
        batch_size: int = 200,
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._sessions = session_factory
        self._outbox = outbox  # kept for callers; reminders are stored and sent in batches here
        self._channels = channels
        self._clock = clock
        self._settings = settings
        self._catalogue = catalogue
        self._limiter = limiter or LocalRateLimiter(settings.send_rate_per_second)
        self._hours = hours
        self._batch_size = batch_size
        self._concurrency = max(1, concurrency)
        self._retry = retry or RetryPolicy()

    # -- public --------------------------------------------------------------------------------

    def send(self, reminder_id: int) -> str:
        """One reminder (an arq job). Returns what happened: sent, deferred:<reason>,
        skipped:<reason>, failed, or not_due (another worker has it, or it is not due)."""
        now = self._clock.now()
        claimed = self._claim(now, 1, only=reminder_id)
        if not claimed:
            return "not_due"
        prepared, outcomes = self._prepare(claimed, now)
        deliveries = [self._deliver(p) for p in prepared]
        outcomes.update(self._record(prepared, deliveries, now))
        return outcomes[reminder_id]

    def send_due(self, max_batches: int | None = None) -> dict[str, int]:
        """Everything due now, batch after batch, until nothing is left to claim. Returns the
        outcome counts (sent, deferred, skipped, failed)."""
        counts: Counter[str] = Counter()
        batches = 0
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="reminders") as pool:
            inflight: tuple[list[_Prepared], list[Future[_Delivery]], datetime] | None = None
            while True:
                batch: tuple[list[_Prepared], dict[int, str], datetime] | None = None
                if max_batches is None or batches < max_batches:
                    now = self._clock.now()
                    try:
                        claimed = self._claim(now, self._batch_size)
                        if claimed:
                            batches += 1
                            batch = (*self._prepare(claimed, now), now)
                    except Exception:
                        # The batch on the wire still gets its outcomes recorded; the failed
                        # claim (if any) stays in 'sending' until recovery reschedules it.
                        if inflight is not None:
                            self._record(inflight[0], [f.result() for f in inflight[1]], inflight[2])
                        raise
                queued = None
                if batch is not None:  # queued behind the previous batch: the threads never idle
                    prepared, outcomes, at = batch
                    counts.update(o.split(":")[0] for o in outcomes.values())
                    queued = (prepared, [pool.submit(self._deliver, p) for p in prepared], at)
                if inflight is not None:  # the previous batch was on the wire meanwhile
                    prepared, futures, at = inflight
                    recorded = self._record(prepared, [f.result() for f in futures], at)
                    counts.update(o.split(":")[0] for o in recorded.values())
                inflight = queued
                if inflight is None:
                    break
        return dict(counts)

    # -- claim ---------------------------------------------------------------------------------

    def _claim(self, now: datetime, limit: int, only: int | None = None) -> list[int]:
        with self._sessions() as session:
            pick = select(ScheduledReminder.id).where(
                ScheduledReminder.status == SCHEDULED, ScheduledReminder.due_at <= now
            )
            if only is not None:
                pick = pick.where(ScheduledReminder.id == only)
            pick = pick.order_by(ScheduledReminder.due_at, ScheduledReminder.id).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            claimed = list(session.scalars(
                update(ScheduledReminder)
                .where(ScheduledReminder.id.in_(pick), ScheduledReminder.status == SCHEDULED)
                .values(status=SENDING, claimed_at=now, attempts=ScheduledReminder.attempts + 1)
                .returning(ScheduledReminder.id)
                .execution_options(synchronize_session=False)
            ))  # fmt: skip
            session.commit()
        return claimed

    # -- prepare: decide, compose and store the messages, in one transaction -------------------

    def _prepare(self, ids: Sequence[int], now: datetime) -> tuple[list[_Prepared], dict[int, str]]:
        outcomes: dict[int, str] = {}
        with self._sessions() as session:
            _, rules = active_rules(session)
            hours = self._hours(session)
            rows = session.scalars(
                select(ScheduledReminder).where(ScheduledReminder.id.in_(ids))
                .order_by(ScheduledReminder.due_at, ScheduledReminder.id)
            ).all()  # fmt: skip
            ctx = _BatchContext.load(session, rows, self._channels, now)
            staged: list[tuple[ScheduledReminder, Channel, str, OutboundMessage, str]] = []
            for row in rows:
                try:
                    result = self._decide_row(session, ctx, rules, hours, row, now)
                except Exception:
                    log.exception("reminder %s could not be prepared", row.id)
                    result = f"{FAILED}:error"
                if isinstance(result, str):
                    outcomes[row.id] = result
                    continue
                staged.append((row, *result))
            conversations = ctx.conversations_for(session, [(c, a) for _, c, a, _, _ in staged])
            messages = []
            for row, channel, address, message, _ in staged:
                payload: dict[str, Any] = {"reminder": row.idempotency_key}
                if message.template_id:
                    payload.update(template=message.template_id, variables=message.variables)
                messages.append(Message(
                    conversation_id=conversations[(channel, address)].id, direction=Direction.OUTBOUND,
                    author=Author.SYSTEM, text=message.text, payload=payload, status=PENDING,
                ))  # fmt: skip
            session.add_all(messages)
            session.flush()
            prepared = []
            for (row, channel, address, message, kind), stored in zip(staged, messages, strict=True):
                row.channel, row.message_id = channel.value, stored.id
                prepared.append(_Prepared(row.id, stored.id, channel, address, message, kind))
            session.commit()
        return prepared, outcomes

    def _decide_row(
        self,
        session: Session,
        ctx: _BatchContext,
        rules: DunningRules,
        hours: ContactHours,
        row: ScheduledReminder,
        now: datetime,
    ) -> str | tuple[Channel, str, OutboundMessage, str]:
        """An outcome for a reminder that goes nowhere (its row updated), or what to send."""
        contact = ctx.contacts[row.contact_id]
        debtor = contact.debtor
        tz = timezone_for_phone(contact.phone_e164)
        route = ctx.routes.get(contact.id)
        if route is None:
            row.status, row.reason = SKIPPED, "no_channel"
            return "skipped:no_channel"
        channel, address = route
        target = Target(row.target)
        values, facts_target = self._target_facts(ctx, row, target, now)
        step = rules.step(row.step_id)
        if row.step_id == RENEGOTIATION_STEP:
            template_key, text = rules.renegotiation_template, rules.renegotiation_text
        else:
            template_key, text = (step.template, step.text) if step else ("", "")
        conversation = ctx.conversations.get(route)
        last_inbound = conversation.last_inbound_at if conversation else None
        day_start = now.astimezone(ZoneInfo(tz)).replace(hour=0, minute=0, second=0, microsecond=0)
        sent = ctx.recent.setdefault(contact.id, [])
        facts = SendFacts(
            now=now, tz=tz, due_at=row.due_at, channel=channel.value,
            opted_out=contact.opted_out_at is not None, legal_hold=debtor.legal_hold,
            in_dispute=debtor.in_dispute, target_settled=facts_target[0], under_agreement=facts_target[1],
            agreement_active=facts_target[2],
            sent_today=sum(1 for at in sent if at >= day_start),
            sent_week=sum(1 for at in sent if at >= now - timedelta(days=7)),
            within_window=last_inbound is not None and now - last_inbound < SESSION_WINDOW,
            step_exists=step is not None or row.step_id == RENEGOTIATION_STEP,
        )  # fmt: skip
        verdict = decide(facts, rules, target, hours)
        if verdict.decision == Decision.DEFER:
            assert verdict.until is not None
            row.status, row.reason, row.due_at = SCHEDULED, verdict.reason, verdict.until
            return f"deferred:{verdict.reason}"
        if verdict.decision == Decision.SKIP:
            row.status, row.reason = SKIPPED, verdict.reason
            return f"skipped:{verdict.reason}"
        template = self._catalogue.get(template_key)
        if template is None:
            row.status, row.reason = SKIPPED, "unknown_template"
            return "skipped:unknown_template"
        values.update(contact_name=first_name(contact.name), debtor_name=debtor.legal_name,
                      creditor=self._settings.creditor_trade_name)  # fmt: skip
        message, _ = compose(verdict.decision, template, text, values)
        sent.append(now)  # a second reminder to this contact in the batch sees this one
        return channel, address, message, "template" if verdict.decision == Decision.SEND_TEMPLATE else "text"

    def _target_facts(
        self, ctx: _BatchContext, row: ScheduledReminder, target: Target, now: datetime
    ) -> tuple[dict[str, str], tuple[bool, bool, bool]]:
        """Template values and (settled, under an agreement, agreement in the step's state)."""
        today = now.astimezone(ZoneInfo(self._settings.timezone)).date()
        if target == Target.INVOICE:
            assert row.invoice_id is not None
            invoice = ctx.invoices[row.invoice_id]
            settled = invoice.status in (InvoiceStatus.PAID, InvoiceStatus.CANCELLED)
            covered = invoice.status == InvoiceStatus.RENEGOTIATED or invoice.id in ctx.covered
            amount = updated_balance(invoice.principal, invoice.due_date, today,
                                     late_charge_rules(invoice.debtor.creditor)).total  # fmt: skip
            if invoice.txid is None:
                invoice.txid = invoice_txid(invoice)
            values = {
                "document": texts.DOCUMENT_INVOICE.format(number=invoice.number), "amount": format_brl(amount),
                "due_date": format_date(invoice.due_date), "pix_code": self._pix(invoice.txid, amount),
            }  # fmt: skip
            return values, (settled, covered, False)
        assert row.installment_id is not None
        installment = ctx.installments[row.installment_id]
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

    # -- deliver: on the sending threads, no database --------------------------------------------

    def _deliver(self, p: _Prepared) -> _Delivery:
        adapter = self._channels.get(p.channel)
        if adapter is None:
            return _Delivery(
                0, FAILED, error_code="channel_off", error_message=f"canal {p.channel.value} desativado"
            )
        attempts = 0
        while True:
            attempts += 1
            self._limiter.acquire(f"{p.channel.value}:{self._sender_id(p.channel)}")
            try:
                result = adapter.send(p.address, p.message)
            except SendError as exc:
                error = exc
            except Exception as exc:  # an adapter bug must not lose the record
                log.exception("reminder %s: channel %s failed", p.reminder_id, p.channel.value)
                error = SendError(f"{type(exc).__name__}: {exc}", retryable=False)
            else:
                return _Delivery(attempts, result.status, provider_message_id=result.provider_message_id)
            if not error.retryable or attempts >= self._retry.max_attempts:
                log.warning("reminder %s not delivered on %s: %s", p.reminder_id, p.channel.value, error)
                return _Delivery(
                    attempts, FAILED, error_code=error.error_code, error_message=str(error)[:2000]
                )
            self._retry.sleep(self._retry.delay(attempts))

    def _sender_id(self, channel: Channel) -> str:
        if channel == Channel.WHATSAPP:
            return self._settings.twilio_whatsapp_from or ""
        return "default"

    # -- record: one transaction for the batch's outcomes --------------------------------------

    def _record(
        self, prepared: Sequence[_Prepared], deliveries: Sequence[_Delivery], now: datetime
    ) -> dict[int, str]:
        if not prepared:
            return {}
        sent_at = self._clock.now()
        outcomes: dict[int, str] = {}
        message_rows: list[dict[str, Any]] = []
        reminder_rows: list[dict[str, Any]] = []
        for p, d in zip(prepared, deliveries, strict=True):
            failed = d.status == FAILED
            message_rows.append({
                "id": p.message_id, "status": d.status, "attempts": d.attempts,
                "provider_message_id": d.provider_message_id, "error_code": d.error_code,
                "error_message": d.error_message, "sent_at": None if failed else sent_at,
            })  # fmt: skip
            reminder_rows.append({
                "id": p.reminder_id, "status": FAILED if failed else SENT,
                "reason": (d.error_code or "send_failed")[:40] if failed else p.kind,
                "sent_at": None if failed else now,
            })  # fmt: skip
            outcomes[p.reminder_id] = FAILED if failed else SENT
        with self._sessions() as session:
            session.execute(update(Message), message_rows)
            session.execute(update(ScheduledReminder), reminder_rows)
            session.commit()
            # Status callbacks that beat the provider id to the row (see bot/outbox.py).
            provider_ids = [r["provider_message_id"] for r in message_rows if r["provider_message_id"]]
            early = set(session.scalars(
                select(EarlyStatus.provider_message_id).where(EarlyStatus.provider_message_id.in_(provider_ids))
            )) if provider_ids else set()  # fmt: skip
            for message in session.scalars(select(Message).where(Message.provider_message_id.in_(early))):
                apply_early_statuses(session, message)
        return outcomes


@dataclass
class _BatchContext:
    """What a batch of reminders needs, loaded with a handful of queries."""

    contacts: dict[int, Contact]
    routes: dict[int, tuple[Channel, str]]
    conversations: dict[tuple[Channel, str], Conversation]
    invoices: dict[int, Invoice]
    covered: set[int]
    installments: dict[int, AgreementInstallment]
    recent: dict[int, list[datetime]]

    @classmethod
    def load(
        cls,
        session: Session,
        rows: Sequence[ScheduledReminder],
        channels: Iterable[Channel],
        now: datetime,
    ) -> _BatchContext:
        enabled = list(channels)
        contact_ids = {r.contact_id for r in rows}
        contacts = {c.id: c for c in session.scalars(
            select(Contact).where(Contact.id.in_(contact_ids)).options(selectinload(Contact.debtor))
        )}  # fmt: skip
        routes = {cid: r for cid, c in contacts.items() if (r := route_for(c, enabled)) is not None}
        addresses = {a for _, a in routes.values()}
        conversations = {(c.channel, c.address): c for c in session.scalars(
            select(Conversation).where(Conversation.address.in_(addresses))
        )} if addresses else {}  # fmt: skip
        invoice_ids = {r.invoice_id for r in rows if r.invoice_id is not None}
        invoices = {i.id: i for i in session.scalars(
            select(Invoice).where(Invoice.id.in_(invoice_ids))
            .options(selectinload(Invoice.debtor).selectinload(Debtor.creditor))
        )} if invoice_ids else {}  # fmt: skip
        covered = {i for i in session.scalars(
            select(AgreementInvoice.active_invoice_id).where(AgreementInvoice.active_invoice_id.in_(invoice_ids))
        ) if i is not None} if invoice_ids else set()  # fmt: skip
        installment_ids = {r.installment_id for r in rows if r.installment_id is not None}
        installments = {i.id: i for i in session.scalars(
            select(AgreementInstallment).where(AgreementInstallment.id.in_(installment_ids))
            .options(selectinload(AgreementInstallment.agreement))
        )} if installment_ids else {}  # fmt: skip
        recent: dict[int, list[datetime]] = {}
        for contact_id, sent_at in session.execute(
            select(ScheduledReminder.contact_id, ScheduledReminder.sent_at)
            .where(ScheduledReminder.contact_id.in_(contact_ids), ScheduledReminder.status == SENT,
                   ScheduledReminder.sent_at >= now - timedelta(days=7))
        ):  # fmt: skip
            if sent_at is not None:
                recent.setdefault(contact_id, []).append(sent_at)
        return cls(contacts, routes, conversations, invoices, covered, installments, recent)

    def conversations_for(
        self, session: Session, routes: Sequence[tuple[Channel, str]]
    ) -> dict[tuple[Channel, str], Conversation]:
        """Opens the conversations the creditor writes first on (unverified: the debtor still
        proves who they are before any disclosure), all at once; one by one on a race."""
        missing = [
            Conversation(channel=c, address=a)
            for c, a in dict.fromkeys(routes)
            if (c, a) not in self.conversations
        ]
        if missing:
            try:
                with session.begin_nested():
                    session.add_all(missing)
            except IntegrityError:  # another process opened one of them meanwhile
                missing = [conversation_for(session, c, a) for c, a in dict.fromkeys(routes)
                           if (c, a) not in self.conversations]  # fmt: skip
            self.conversations.update({(c.channel, c.address): c for c in missing})
        return self.conversations


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
            message = session.get(Message, row.message_id) if row.message_id else _message_of(session, row)
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
