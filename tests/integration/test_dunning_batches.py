"""Batched sending of reminders (on SQLite and PostgreSQL, through the fake Twilio): two senders
claiming batches at the same time never send one reminder twice; the send gate follows the
contact hours an admin sets on /admin; arq batch jobs on the real Redis."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import redis
from arq.connections import RedisSettings, create_pool
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.clock import FixedClock
from server.container import Container
from server.db.models import Author, Message, Role, ScheduledReminder
from server.dunning_runtime import SEND_DUE_JOB, build_worker
from server.services.creditor import get_or_create_creditor
from server.services.dunning import ReminderSender
from server.services.rate_limit import LocalRateLimiter
from server.services.users import create_user
from tests.fakes_twilio import FakeTwilio
from tests.integration.test_dunning_schedule import REDIS_URL, add_debtor

PASSWORD = "senha-muito-secreta"
SP = ZoneInfo("America/Sao_Paulo")


def sender(container: Container, batch_size: int) -> ReminderSender:
    return ReminderSender(
        container.session_factory, container.outbox, container.channels, container.clock,
        container.settings, container.catalogue, LocalRateLimiter(1000), batch_size=batch_size,
        concurrency=3, retry=container.retry,
    )  # fmt: skip


def login(client: TestClient) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": "admin@example.com", "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_two_senders_claiming_batches_at_once_send_each_reminder_once(
    whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    clock = whatsapp.clock
    assert isinstance(clock, FixedClock)
    creditor = get_or_create_creditor(session, whatsapp.settings).id
    for n in range(60):
        add_debtor(session, creditor, 100 + n, f"+551198760{n:04d}", date(2026, 12, 4))  # D−3 on Tue 1st
    session.commit()
    clock.at = datetime(2026, 12, 1, 13, tzinfo=UTC)  # 10:00 in São Paulo
    due = whatsapp.dunning.scheduler.tick()
    assert len(due) == 60
    senders = [sender(whatsapp, batch_size=7), sender(whatsapp, batch_size=5)]
    start = threading.Barrier(len(senders))
    counts: list[dict[str, int]] = [{} for _ in senders]

    def run(i: int) -> None:
        start.wait()
        counts[i] = senders[i].send_due()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(senders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(c.get("sent", 0) for c in counts) == 60
    assert all(set(c) <= {"sent"} for c in counts), counts
    recipients = [call["to"] for call in fake_twilio.sent]
    assert len(recipients) == len(set(recipients)) == 60
    session.expire_all()
    keys = [
        m.payload["reminder"]  # type: ignore[index]
        for m in session.scalars(select(Message).where(Message.author == Author.SYSTEM))
    ]
    assert sorted(keys) == sorted(d.key for d in due)
    statuses = dict(
        session.execute(
            select(ScheduledReminder.status, func.count()).group_by(ScheduledReminder.status)
        ).all()  # type: ignore[arg-type]
    )
    assert statuses == {"sent": 60}
    # Both claimed, and again by id: nothing more leaves.
    assert senders[0].send_due() == {}
    assert {senders[1].send(d.id) for d in due} == {"not_due"}
    assert len(fake_twilio.sent) == 60


def test_admin_narrowed_saturday_hours_hold_back_a_saturday_13h_reminder(
    whatsapp: Container, fake_twilio: FakeTwilio, client: TestClient, session: Session
) -> None:
    create_user(session, "admin@example.com", PASSWORD, Role.ADMIN, "Alice Admin")
    creditor = get_or_create_creditor(session, whatsapp.settings).id
    contact = add_debtor(session, creditor, 300, "+5511987651234", date(2026, 12, 8))  # D−3 on Sat 5th
    session.commit()
    headers = login(client)
    weekdays = {d: {"open": "08:00", "close": "20:00"} for d in ("seg", "ter", "qua", "qui", "sex")}
    narrowed = {**weekdays, "sab": {"open": "08:00", "close": "12:00"}, "dom": {"open": "", "close": ""}}
    assert client.put("/api/settings/contact_hours", json=narrowed, headers=headers).status_code == 200

    clock = whatsapp.clock
    assert isinstance(clock, FixedClock)
    clock.at = datetime(2026, 12, 5, 13, tzinfo=SP)  # Saturday 13:00: inside the default 8–14h
    dunning = whatsapp.dunning
    assert dunning.run_once() == {"deferred": 1}
    assert fake_twilio.sent == []
    session.expire_all()
    reminder = session.scalar(select(ScheduledReminder).where(ScheduledReminder.contact_id == contact.id))
    assert reminder is not None and reminder.status == "scheduled" and reminder.reason == "contact_hours"
    assert reminder.due_at.astimezone(SP) == datetime(2026, 12, 7, 8, tzinfo=SP)  # Monday's opening

    # The admin gives Saturday back its default hours: at 13:30 it goes out.
    widened = {**narrowed, "sab": {"open": "08:00", "close": "14:00"}}
    headers = login(client)  # the clock moved past the first token's expiry
    assert client.put("/api/settings/contact_hours", json=widened, headers=headers).status_code == 200
    clock.at = datetime(2026, 12, 5, 13, 30, tzinfo=SP)
    session.execute(
        ScheduledReminder.__table__.update()
        .where(ScheduledReminder.id == reminder.id)
        .values(due_at=clock.at)
    )
    session.commit()
    assert dunning.run_once() == {"sent": 1}
    assert [call["to"] for call in fake_twilio.sent] == [f"whatsapp:{contact.phone_e164}"]


def test_sunday_stays_closed_even_when_an_admin_opens_it(
    whatsapp: Container, fake_twilio: FakeTwilio, client: TestClient, session: Session
) -> None:
    create_user(session, "admin@example.com", PASSWORD, Role.ADMIN, "Alice Admin")
    creditor = get_or_create_creditor(session, whatsapp.settings).id
    add_debtor(session, creditor, 301, "+5511987655678", date(2026, 12, 9))  # D−3 on Sun 6th
    session.commit()
    headers = login(client)
    every_day = {
        d: {"open": "08:00", "close": "20:00"} for d in ("seg", "ter", "qua", "qui", "sex", "sab", "dom")
    }
    assert client.put("/api/settings/contact_hours", json=every_day, headers=headers).status_code == 200
    clock = whatsapp.clock
    assert isinstance(clock, FixedClock)
    clock.at = datetime(2026, 12, 6, 10, tzinfo=SP)
    assert whatsapp.dunning.run_once() == {"deferred": 1}
    assert fake_twilio.sent == []


def test_arq_batch_jobs_send_each_due_reminder_once(
    whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    clock = whatsapp.clock
    assert isinstance(clock, FixedClock)
    creditor = get_or_create_creditor(session, whatsapp.settings).id
    for n in range(12):
        add_debtor(session, creditor, 500 + n, f"+551198761{n:04d}", date(2026, 12, 4))  # D−3 on Tue 1st
    session.commit()
    clock.at = datetime(2026, 12, 1, 13, tzinfo=UTC)
    run = uuid.uuid4().hex[:8]
    queue = f"negocia:test:{run}"

    async def scenario() -> None:
        pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
        try:
            first = whatsapp.dunning
            first.scheduler.tick()
            # Two batch jobs (two workers' ticks, a retry): the claims keep them apart.
            await pool.enqueue_job(SEND_DUE_JOB, _job_id=f"{run}:a", _queue_name=queue)
            await pool.enqueue_job(SEND_DUE_JOB, _job_id=f"{run}:b", _queue_name=queue)
            await build_worker(first, REDIS_URL, queue, burst=True, with_cron=False, poll_delay_s=0.05).main()
        finally:
            await pool.aclose()

    try:
        asyncio.run(scenario())
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in [*client.scan_iter(f"*{run}*"), queue]:
            client.delete(key)
        client.close()
    recipients = [call["to"] for call in fake_twilio.sent]
    assert len(recipients) == len(set(recipients)) == 12
    session.expire_all()
    assert (
        session.scalar(
            select(func.count()).select_from(ScheduledReminder).where(ScheduledReminder.status == "sent")
        )
        == 12
    )
