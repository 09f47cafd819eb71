"""Campaign benchmark: schedule D−3 reminders for N debtors and send them through the fake Twilio
at the configured messages-per-second limit; count duplicates (must be 0).

    .venv/bin/python bench/campaign.py [--debtors 100000] [--limit 80] [--workers 8] [--batch 200]

The sender claims ``--batch`` due reminders in one UPDATE, stores their messages in one
transaction, sends them on ``--workers`` threads paced by the per-sender rate limiter and
records the outcomes in one transaction, preparing the next batch meanwhile. A second pass (a
repeated tick, a restarted worker, and every reminder sent again by id) must send nothing.
Ends with: debtors=<n> schedule_s=<n> send_rate=<n> limit=<n> duplicates=<n>
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import create_engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.locks import LocalLocks
from bot.outbox import RetryPolicy
from server.clock import FixedClock
from server.container import Container, whatsapp_channel
from server.db.migrate import upgrade
from server.db.models import Author, Channel, Contact, Debtor, Invoice, Message, ScheduledReminder
from server.db.session import make_engine, make_session_factory
from server.services.creditor import get_or_create_creditor
from server.services.dunning import ReminderSender, active_rules, plan
from server.services.rate_limit import LocalRateLimiter
from server.settings import Settings
from tests.fakes import EchoDialogue
from tests.fakes_twilio import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, WHATSAPP_FROM, FakeTwilio

NOW = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # Tuesday 10:00 in São Paulo: contact hours
DUE = date(2026, 12, 4)  # D−3 is today


def load(session_factory, settings: Settings, n: int) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        creditor = get_or_create_creditor(session, settings).id
        session.commit()
        for start in range(0, n, 10_000):
            ids = range(start + 1, min(n, start + 10_000) + 1)
            session.execute(insert(Debtor), [
                {"id": i, "creditor_id": creditor, "cnpj": f"{i:014d}", "cnpj_root": f"{i:08d}",
                 "legal_name": f"Empresa {i} Ltda", "legal_hold": False, "in_dispute": False,
                 "created_at": NOW, "updated_at": NOW} for i in ids])  # fmt: skip
            session.execute(insert(Contact), [
                {"id": i, "debtor_id": i, "name": f"Contato {i}", "phone_e164": f"+55119{i:08d}",
                 "phone_key": f"11{i:08d}", "created_at": NOW} for i in ids])  # fmt: skip
            session.execute(insert(Invoice), [
                {"id": i, "creditor_id": creditor, "debtor_id": i, "number": f"NF-{i}", "issue_date": date(2026, 11, 4),
                 "due_date": DUE, "principal": "1000.00", "status": "open", "created_at": NOW} for i in ids])  # fmt: skip
            session.commit()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=Settings(_env_file=None).send_rate_per_second)  # type: ignore[call-arg]
    parser.add_argument("--workers", type=int, default=8, help="sending threads sharing the limiter")
    parser.add_argument("--batch", type=int, default=200, help="reminders claimed per UPDATE")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--postgres", default=None, metavar="ADMIN_URL",
                        help="a fresh PostgreSQL database created through ADMIN_URL and dropped at the end")  # fmt: skip
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'campaign.db'}"
    scratch = None
    if args.postgres:
        scratch = f"negocia_campaign_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{scratch}"'))
        url = args.postgres.rsplit("/", 1)[0] + "/" + scratch
    try:
        return run(args, url)
    finally:
        if scratch:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            admin.dispose()
        tmp.cleanup()


def run(args: argparse.Namespace, url: str) -> int:
    upgrade(url)
    fake = FakeTwilio().start()
    settings = Settings(database_url=url, send_rate_per_second=args.limit, twilio_account_sid=ACCOUNT_SID,  # type: ignore[call-arg]
                        twilio_auth_token=SecretStr(AUTH_TOKEN), twilio_whatsapp_from=WHATSAPP_FROM,
                        twilio_api_base_url=fake.url, public_base_url=PUBLIC_BASE_URL, _env_file=None)  # fmt: skip
    engine = make_engine(url, pool_size=4)
    sf = make_session_factory(engine)
    clock = FixedClock(NOW)
    container = Container(settings=settings, engine=engine, session_factory=sf, dialogue=EchoDialogue(),
                          locks=LocalLocks(), clock=clock, tracker_sync=object())  # type: ignore[arg-type]  # fmt: skip
    container.channels[Channel.WHATSAPP] = whatsapp_channel(settings, sf, clock)
    container.retry = RetryPolicy(sleep=lambda _s: None)
    print(f"loading {args.debtors} debtors ...", flush=True)
    load(sf, settings, args.debtors)

    t0 = time.perf_counter()
    with sf() as session:
        _, rules = active_rules(session)
        plan(session, rules, NOW)
        session.commit()
        created = session.scalar(select(func.count()).select_from(ScheduledReminder))
    schedule_s = time.perf_counter() - t0
    print(f"scheduled {created} reminders in {schedule_s:.2f} s", flush=True)

    scheduler = container.dunning.scheduler
    sender = ReminderSender(sf, container.outbox, container.channels, clock, settings, container.catalogue,
                            LocalRateLimiter(args.limit), batch_size=args.batch, concurrency=args.workers,
                            retry=container.retry)  # fmt: skip
    due = scheduler.tick(limit=args.debtors * 2)
    t1 = time.perf_counter()
    outcomes = Counter(sender.send_due())
    send_s = time.perf_counter() - t1
    # A second pass (a repeated tick, a restarted worker, each reminder again by id) sends nothing.
    scheduler.tick(limit=1)
    again = Counter(sender.send_due())
    again.update(sender.send(d.id).split(":")[0] for d in due[:2000])
    sent = outcomes.get("sent", 0)
    with sf() as session:
        keys = [
            m.payload["reminder"]
            for m in session.scalars(select(Message).where(Message.author == Author.SYSTEM))
        ]  # type: ignore[index]
    to_numbers = Counter(str(m["to"]) for m in fake.sent)
    duplicates = (len(keys) - len(set(keys))) + sum(c - 1 for c in to_numbers.values() if c > 1)
    rate = sent / send_s if send_s else 0.0
    print(
        f"sent {sent} ({dict(outcomes)}; second pass {dict(again)}) in {send_s:.1f} s; fake Twilio received {len(fake.sent)}"
    )
    fake.stop()
    engine.dispose()
    print(
        f"debtors={args.debtors} schedule_s={schedule_s:.2f} send_rate={rate:.1f} limit={args.limit} duplicates={duplicates}"
    )
    return 0 if duplicates == 0 and sent == len(due) else 1


if __name__ == "__main__":
    sys.exit(main())
