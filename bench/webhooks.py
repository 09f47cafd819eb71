"""Signed WhatsApp webhooks at increasing rates: acknowledged webhooks/s and reply latency.

Gateway-only figure: the server runs in this process (uvicorn on a free loopback port, a fresh
SQLite or PostgreSQL database, the real gateway, outbox, turn threads and WhatsApp adapter)
with an in-process echo dialogue instead of Rasa, and replies go to the fake Twilio REST API of
the tests. So it measures what the channel adds (signature check, de-duplication, storing the
inbound message, scheduling, ordered turn processing, the reply through the twilio client), not
Rasa, whose cost per turn is in bench/turns.py.

Each rate step sends webhooks open-loop (at fixed intervals, whatever the answers) from
``--senders`` phones round-robin for ``--seconds`` seconds. Per step it prints acknowledged
webhooks/s (200 responses over the step's wall time) and the end-to-end reply latency p50/p95:
from sending the webhook to the fake Twilio receiving the reply. Ends with the highest step:

    acked_per_s=<n> reply_p50_ms=<n> reply_p95_ms=<n>

    .venv/bin/python bench/webhooks.py [--rates 25,50,100,200] [--seconds 5] [--senders 50]
                                       [--database-url sqlite:///... | postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels.whatsapp import to_whatsapp  # noqa: E402
from bot.locks import LocalLocks  # noqa: E402
from server.container import Container, whatsapp_channel  # noqa: E402
from server.db.models import Base, Channel  # noqa: E402
from server.db.session import make_engine, make_session_factory  # noqa: E402
from server.main import create_app  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.fakes import EchoDialogue  # noqa: E402
from tests.fakes_twilio import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    WHATSAPP_FROM,
    FakeTwilio,
    inbound_form,
    signed_post,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(database_url: str, fake: FakeTwilio) -> tuple[uvicorn.Server, str, Container]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        public_base_url=base_url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_whatsapp_from=WHATSAPP_FROM,
        twilio_api_base_url=fake.url,
    )
    engine = make_engine(database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    container = Container(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        dialogue=EchoDialogue(),
        locks=LocalLocks(),
    )
    container.channels[Channel.WHATSAPP] = whatsapp_channel(
        settings, container.session_factory, container.clock
    )
    config = uvicorn.Config(create_app(container=container), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("server did not start")
        time.sleep(0.05)
    return server, base_url, container


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def run_step(
    base_url: str, fake: FakeTwilio, rate: int, seconds: float, senders: list[str], step: int
) -> tuple[float, float, float, int, int]:
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}
    statuses: list[int] = []
    # Requests are signed beforehand so the client's own CPU time does not limit the rate.
    requests = []
    for n in range(total):
        tag = f"s{step}m{n}"
        body, headers = signed_post(inbound_form(senders[n % len(senders)], tag), base_url=base_url)
        requests.append((tag, body, headers))
    already = len(fake.sent)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:

        async def send(tag: str, body: bytes, headers: dict[str, str]) -> None:
            sent_at[tag] = time.monotonic()
            try:
                r = await client.post("/channels/whatsapp", content=body, headers=headers)
                statuses.append(r.status_code)
            except httpx.HTTPError:
                statuses.append(0)

        started = time.monotonic()
        tasks = []
        for n, (tag, body, headers) in enumerate(requests):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(tag, body, headers)))
        await asyncio.gather(*tasks)
        wall = time.monotonic() - started
    acked = sum(1 for s in statuses if s == 200)
    deadline = time.monotonic() + 60
    while len(fake.sent) - already < acked and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    latencies = []
    for message in fake.sent[already:]:
        tag = str(message["body"]).removeprefix("eco: ").split("\n", 1)[0]
        if tag in sent_at:
            latencies.append((float(message["received_at"]) - sent_at[tag]) * 1000)  # type: ignore[arg-type]
    return (
        acked / wall,
        percentile(latencies, 50),
        percentile(latencies, 95),
        total - acked,
        acked - len(latencies),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="25,50,100,200", help="webhooks per second, one step each")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        schema = make_engine(database_url)
        Base.metadata.create_all(schema)  # the ORM's schema, equal to the migrated one (tested)
        schema.dispose()
        fake = FakeTwilio().start()
        server, base_url, container = start_server(database_url, fake)
        senders = [f"+55319{7100_0000 + i:08d}" for i in range(args.senders)]
        print(f"gateway only (echo dialogue in process, no Rasa); {database_url.split(':')[0]}; "
              f"{args.senders} senders; {args.seconds:g} s per step")  # fmt: skip
        print(
            f"{'rate/s':>7} {'acked/s':>8} {'reply p50 ms':>13} {'reply p95 ms':>13} {'not acked':>10} {'no reply':>9}"
        )
        result = (0.0, 0.0, 0.0)
        try:
            for step, rate in enumerate(rates):
                acked, p50, p95, refused, missing = asyncio.run(
                    run_step(base_url, fake, rate, args.seconds, senders, step)
                )
                print(f"{rate:>7} {acked:>8.1f} {p50:>13.1f} {p95:>13.1f} {refused:>10} {missing:>9}")
                result = (acked, p50, p95)
        finally:
            server.should_exit = True
            container.turns.close()
            fake.stop()
        assert all(m["to"] != to_whatsapp(WHATSAPP_FROM) for m in fake.sent)
        print(f"acked_per_s={result[0]:.1f} reply_p50_ms={result[1]:.1f} reply_p95_ms={result[2]:.1f}")


if __name__ == "__main__":
    main()
