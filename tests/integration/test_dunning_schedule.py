"""A month of the dunning schedule over a fixture portfolio, on SQLite and PostgreSQL, through the
fake Twilio, driven by an injectable clock; a restart midway; broken agreements; arq on Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import redis
from arq.connections import RedisSettings, create_pool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.clock import FixedClock
from server.container import Container
from server.db.models import (
    Agreement,
    AgreementInstallment,
    AgreementInvoice,
    AgreementStatus,
    Author,
    Contact,
    Conversation,
    Debtor,
    Handoff,
    Invoice,
    InvoiceStatus,
    Message,
    ScheduledReminder,
)
from server.domain.contact_hours import DEFAULT_CONTACT_HOURS, timezone_for_phone
from server.domain.dunning import BrokenAction
from server.domain.phone import match_key
from server.dunning_runtime import build_worker, enqueue_due
from server.services.creditor import get_or_create_creditor
from server.services.dunning import active_rules, publish_rules
from tests.fakes_twilio import FakeTwilio

START = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 00:00 in São Paulo
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own; only this test's keys are removed


def add_debtor(session: Session, creditor_id: int, n: int, phone: str, due: date | None) -> Contact:
    debtor = Debtor(
        creditor_id=creditor_id, cnpj=f"{n:014d}", cnpj_root=f"{n:08d}", legal_name=f"Empresa {n} Ltda"
    )
    session.add(debtor)
    session.flush()
    contact = Contact(
        debtor_id=debtor.id, name=f"Contato{n} Silva", phone_e164=phone, phone_key=match_key(phone)
    )
    session.add(contact)
    if due is not None:
        session.add(Invoice(creditor_id=creditor_id, debtor_id=debtor.id, number=f"NF-{n}", issue_date=due - timedelta(days=30),
                            due_date=due, principal=Decimal("500.00")))  # fmt: skip
    session.flush()
    return contact


def add_agreement(session: Session, creditor_id: int, contact: Contact, due: date) -> Agreement:
    invoice = Invoice(creditor_id=creditor_id, debtor_id=contact.debtor_id, number=f"NF-A{contact.id}",
                      issue_date=due - timedelta(days=60), due_date=due - timedelta(days=30),
                      principal=Decimal("300.00"), status=InvoiceStatus.RENEGOTIATED)  # fmt: skip
    session.add(invoice)
    session.flush()
    agreement = Agreement(debtor_id=contact.debtor_id, option="plan:1", original_total=Decimal("300.00"),
                          updated_total=Decimal("300.00"), discount_amount=Decimal("0.00"),
                          agreed_total=Decimal("300.00"), down_payment=Decimal("0.00"),
                          monthly_interest_pct=Decimal("0"), terms_sha256="0" * 64, contact_id=contact.id)  # fmt: skip
    session.add(agreement)
    session.flush()
    session.add(AgreementInvoice(agreement_id=agreement.id, invoice_id=invoice.id, active_invoice_id=invoice.id,
                                 principal=Decimal("300.00"), late_fee=Decimal("0"), interest=Decimal("0")))  # fmt: skip
    session.add(AgreementInstallment(agreement_id=agreement.id, number=1, due_date=due, amount=Decimal("300.00"),
                                     txid=f"NEG{agreement.id:010d}P001", pix_code="000201-fake"))  # fmt: skip
    session.flush()
    return agreement


def portfolio(session: Session, container: Container) -> dict[str, Contact]:
    creditor = get_or_create_creditor(session, container.settings).id
    c = {
        # Due Thu 10/12: D−3 Mon 7, D0 Thu 10, D+1 Fri 11, D+7 Thu 17, D+15 = Christmas → Sat 26.
        "sp": add_debtor(session, creditor, 1, "+5511987654321", date(2026, 12, 10)),
        # Manaus (UTC−4): 9:00 local; due Mon 7/12.
        "am": add_debtor(session, creditor, 2, "+5592991234567", date(2026, 12, 7)),
        # Opts out on 9/12: nothing after that.
        "out": add_debtor(session, creditor, 3, "+5531991112222", date(2026, 12, 3)),
        # Due Sunday 13/12: D0 waits for Monday.
        "sun": add_debtor(session, creditor, 4, "+5521988887777", date(2026, 12, 13)),
        # An agreement whose installment (Sat 5/12) is never paid: broken on 15/12.
        "agr": add_debtor(session, creditor, 5, "+5541977776666", None),
    }
    add_agreement(session, creditor, c["agr"], date(2026, 12, 5))
    session.commit()
    return c


def local(at: datetime, phone: str) -> datetime:
    return at.astimezone(ZoneInfo(timezone_for_phone(phone)))


def test_a_month_of_reminders_with_a_restart(
    whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    container = whatsapp
    clock = container.clock
    assert isinstance(clock, FixedClock)
    contacts = portfolio(session, container)
    dunning = container.dunning
    opted_out_at = datetime(2026, 12, 9, 15, tzinfo=UTC)
    inbound_at = datetime(2026, 12, 10, 10, 0, tzinfo=UTC)  # 7:00 in SP: the window opens for D0
    for hour in range(31 * 24):
        clock.at = START + timedelta(hours=hour)
        if clock.at == opted_out_at:
            session.get(Contact, contacts["out"].id).opted_out_at = clock.at  # type: ignore[union-attr]
            session.commit()
        if clock.at == inbound_at:
            conversation = session.scalar(
                select(Conversation).where(Conversation.address == contacts["sp"].phone_e164)
            )
            assert conversation is not None  # opened by the D−3 reminder
            conversation.last_inbound_at = clock.at
            session.commit()
        if hour == 14 * 24 + 12:
            # A worker dies between claiming a due reminder and sending it ...
            due = dunning.scheduler.tick()
            if due:
                session.execute(ScheduledReminder.__table__.update().where(ScheduledReminder.id == due[0].id)
                                .values(status="sending", claimed_at=clock.at))  # fmt: skip
                session.commit()
            # ... and the process restarts: new scheduler and sender on the same database.
            dunning = container.dunning
        dunning.run_once()

    session.expire_all()
    sent = session.scalars(select(Message).where(Message.author == Author.SYSTEM).order_by(Message.id)).all()
    assert len(fake_twilio.sent) == len(sent) > 0
    keys = [m.payload["reminder"] for m in sent]  # type: ignore[index]
    assert len(keys) == len(set(keys)), "a reminder went out twice"
    assert session.scalar(
        select(func.count()).select_from(ScheduledReminder).where(ScheduledReminder.status == "sent")
    ) == len(sent)
    by_phone: dict[str, list[Message]] = {}
    for m in sent:
        by_phone.setdefault(m.conversation.address, []).append(m)
        at = m.sent_at
        assert at is not None
        assert DEFAULT_CONTACT_HOURS.allows(at, timezone_for_phone(m.conversation.address)), (at, m.text)
        assert local(at, m.conversation.address).weekday() != 6 and local(
            at, m.conversation.address
        ).date() != date(2026, 12, 25)
    # São Paulo: D−3, D0 (free text: the contact wrote that morning), D+1, D+7, D+15 (after Christmas).
    sp = by_phone[contacts["sp"].phone_e164]  # type: ignore[index]
    assert [local(m.sent_at, m.conversation.address).date().day for m in sp] == [7, 10, 11, 17, 26]  # type: ignore[arg-type]
    sp_calls = [c for c in fake_twilio.sent if c["to"] == f"whatsapp:{contacts['sp'].phone_e164}"]
    assert [c["content_sid"] is None for c in sp_calls] == [False, True, False, False, False]
    assert "Horizonte Distribuidora" in sp[1].text and "hoje" in sp[1].text
    # Manaus at 9:00 local time.
    am = by_phone[contacts["am"].phone_e164]  # type: ignore[index]
    assert [local(m.sent_at, m.conversation.address).hour for m in am] == [9] * len(am)  # type: ignore[arg-type]
    assert [local(m.sent_at, m.conversation.address).date().day for m in am] == [4, 7, 8, 14, 22]  # type: ignore[arg-type]
    # Opted out on the 9th: D−3 (late, on the 1st), D0 and D+1; never again.
    out = by_phone[contacts["out"].phone_e164]  # type: ignore[index]
    assert all(m.sent_at < opted_out_at for m in out) and len(out) == 3  # type: ignore[operator]
    assert (
        session.scalar(
            select(func.count()).select_from(ScheduledReminder).where(ScheduledReminder.reason == "opted_out")
        )
        == 1
    )  # D+7, planned before the opt-out, stopped at send
    # Sunday due date: D0 on Monday 14 with D+1.
    sun = by_phone[contacts["sun"].phone_e164]  # type: ignore[index]
    assert [local(m.sent_at, m.conversation.address).date().day for m in sun][:3] == [10, 14, 14]  # type: ignore[arg-type]
    # The broken agreement: installment reminders, then the renegotiation invitation; invoice reopened.
    agreement = session.scalar(select(Agreement))
    assert agreement is not None and agreement.status == AgreementStatus.BROKEN
    agr = by_phone[contacts["agr"].phone_e164]  # type: ignore[index]
    assert [m.payload["reminder"].split(":")[2] for m in agr][:5] == [
        "parcela_d-3",
        "parcela_d0",
        "parcela_d+1",
        "parcela_d+7",
        "renegotiation",
    ]  # type: ignore[index]
    reopened = session.scalar(select(Invoice).where(Invoice.number.like("NF-A%")))
    assert reopened is not None and reopened.status == InvoiceStatus.OPEN
    # Nothing left behind: no reminder stuck in 'sending', none overdue and still scheduled.
    assert (
        session.scalar(
            select(func.count()).select_from(ScheduledReminder).where(ScheduledReminder.status == "sending")
        )
        == 0
    )
    late = START + timedelta(days=31) - timedelta(days=3)
    assert session.scalar(select(func.count()).select_from(ScheduledReminder).where(
        ScheduledReminder.status == "scheduled", ScheduledReminder.due_at < late)) == 0  # fmt: skip


def test_broken_agreement_handed_to_a_collector_when_the_policy_says_so(
    container: Container, session: Session
) -> None:
    clock = container.clock
    assert isinstance(clock, FixedClock)
    creditor = get_or_create_creditor(session, container.settings).id
    contact = add_debtor(session, creditor, 7, "+5511955554444", None)
    add_agreement(session, creditor, contact, date(2026, 12, 1))
    _, rules = active_rules(session)
    from dataclasses import replace

    publish_rules(
        session,
        replace(rules, broken_action=BrokenAction.HANDOFF, broken_after_days=5),
        container.catalogue,
        None,
    )
    session.commit()
    clock.at = datetime(2026, 12, 7, 15, tzinfo=UTC)
    container.dunning.run_once()
    session.expire_all()
    assert session.scalar(select(Agreement)).status == AgreementStatus.BROKEN  # type: ignore[union-attr]
    handoff = session.scalar(select(Handoff))
    assert handoff is not None and handoff.reason == "broken_agreement" and "rompido" in handoff.summary


def test_arq_worker_on_redis_sends_each_reminder_once(container: Container, session: Session) -> None:
    clock = container.clock
    assert isinstance(clock, FixedClock)
    creditor = get_or_create_creditor(session, container.settings).id
    for n in range(5):
        add_debtor(session, creditor, 20 + n, f"+55119876500{n:02d}", date(2026, 12, 4))  # D−3 on Tue 1st
    session.commit()
    clock.at = datetime(2026, 12, 1, 13, tzinfo=UTC)
    run = uuid.uuid4().hex[:8]
    queue, prefix = f"negocia:test:{run}", f"t{run}:"

    async def scenario() -> tuple[int, int, int]:
        pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
        try:
            first = container.dunning
            due = first.scheduler.tick()
            enqueued = await enqueue_due(pool, due, queue, prefix)
            again = await enqueue_due(pool, due, queue, prefix)  # a second tick: same job ids, refused
            await build_worker(first, REDIS_URL, queue, burst=True, with_cron=False, poll_delay_s=0.05).main()
            # Restart: new objects on the same DB and Redis; the same reminders come round again.
            second = container.dunning
            await enqueue_due(pool, due, queue, prefix + "r")  # even under new job ids ...
            await build_worker(
                second, REDIS_URL, queue, burst=True, with_cron=False, poll_delay_s=0.05
            ).main()
            return len(due), enqueued, again
        finally:
            await pool.aclose()

    try:
        due, enqueued, again = asyncio.run(scenario())
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in [*client.scan_iter(f"*{run}*"), queue]:
            client.delete(key)
        client.close()
    assert (due, enqueued, again) == (5, 5, 0)
    session.expire_all()
    # ... the claim in the database sends each once.
    assert (
        session.scalar(select(func.count()).select_from(Message).where(Message.author == Author.SYSTEM)) == 5
    )
    assert (
        session.scalar(
            select(func.count()).select_from(ScheduledReminder).where(ScheduledReminder.status == "sent")
        )
        == 5
    )
