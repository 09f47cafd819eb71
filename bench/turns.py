"""Turns per second and latency of the sandbox channel next to Rasa's bare REST channel.

Starts the real stack (`negocia run --no-demo` on free loopback ports, a fresh SQLite database and
a generated portfolio with one registered contact per conversation), then runs fresh 6-turn
conversations, identical on both sides:

- sandbox: `POST /channels/sandbox/messages` from a registered phone: gateway (conversation
  lookup, per-conversation lock, inbound and outbound messages written to the database), then
  Rasa, whose actions call the server's internal API;
- bare Rasa: `POST /webhooks/rest/webhook` on the same `rasa run` process (same model). Each sender
  is the opaque id of a conversation registered in the database beforehand for another fresh
  contact, exactly what the gateway would send, so the actions see a registered, unverified
  contact and the dialogue is the same turn for turn; only the gateway is left out.

Every conversation is new (a turn's cost in Rasa grows with the tracker's length, so reusing one
conversation would measure something else). Two cases per side: sequential (one conversation at a
time) and concurrent (rounds of ``--concurrency`` conversations started at once, each one's turns
in order). Sides alternate in A B B A order, after a warm-up of both, so that neither benefits
from running later (warmer caches) or earlier (fewer trackers in memory). Prints a table and ends
with one line for the concurrent case:

    turns_per_s=<n> p95_ms=<n> bare_rasa_turns_per_s=<n> bare_rasa_p95_ms=<n>

    .venv/bin/python bench/turns.py [--conversations 20,40] [--concurrency 20] [--max-seconds 240]

The trained model must exist (`make train`); otherwise `negocia run` trains it first (minutes).
Only loopback traffic; every loop is bounded and the run stops by itself. Rasa's turn is
CPU-bound: run it on an otherwise idle machine (it warns when the load average is high).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import FrameType

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.clock import SystemClock, local_today  # noqa: E402
from server.db.models import Channel, Conversation  # noqa: E402
from server.db.session import make_engine, make_session_factory  # noqa: E402
from server.domain.cnpj import check_digits  # noqa: E402

NEGOCIA = ROOT / ".venv" / "bin" / "negocia"
START_TIMEOUT_S = 420  # loading the model takes about a minute; a first training, minutes more
STOP_TIMEOUT_S = 40
REQUEST_TIMEOUT_S = 60.0
WARMUP_CONVERSATIONS = 3  # per side: the first turns pay for TensorFlow graph tracing
SANDBOX = "sandbox"
BARE = "bare Rasa"
SIDES = (SANDBOX, BARE)
CASES = ("sequential", "concurrent")
HEADER = "cnpj;razao_social;segmento;contato_nome;contato_telefone;contato_email;fatura;emissao;vencimento;valor;descricao"


# --- portfolio --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    phone: str  # E.164: the sandbox sender
    cnpj_root: str  # what the contact types to prove who they are
    conversation_id: str = ""  # bare Rasa side only: the sender id the gateway would have used


def build_portfolio(n: int, today: date, seed: int = 7) -> tuple[str, list[Contact]]:
    """A CSV with ``n`` debtors, each with one contact (distinct phones) and 1–2 overdue invoices."""
    rng = random.Random(seed)
    lines = [HEADER]
    contacts = []
    for i in range(n):
        # Distinct roots, far from the default creditor's (33445566) and the e2e fixtures'.
        first12 = f"{61_000_000 + i * 7:08d}0001"
        cnpj = first12 + check_digits(first12)
        shown = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
        # Contacts are matched on DDD + the last 8 digits: those must differ between contacts.
        number = f"9{70_000_000 + i:08d}"
        for k in range(1 + i % 2):
            due = today - timedelta(days=rng.randint(15, 180))
            amount = f"{rng.randint(300, 9000)}.{rng.randint(0, 99):02d}"
            lines.append(
                f"{shown};Comércio Bench {i:04d} Ltda;varejo;Contato {i:04d};(31) {number[:5]}-{number[5:]};;"
                f"NF-{i}-{k};{due - timedelta(days=30):%d/%m/%Y};{due:%d/%m/%Y};{amount};Mercadorias"
            )
        contacts.append(Contact(phone=f"+5531{number}", cnpj_root=cnpj[:8]))
    return "\n".join(lines) + "\n", contacts


def open_conversations(database_url: str, contacts: list[Contact]) -> list[Contact]:
    """Register a sandbox conversation per contact, as the gateway does on a first message.

    The bare Rasa side then sends with those ids, so the actions find a registered contact and the
    dialogue follows the same path as on the sandbox side.
    """
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = [Conversation(channel=Channel.SANDBOX, address=c.phone) for c in contacts]
            session.add_all(rows)
            session.commit()
            return [
                Contact(c.phone, c.cnpj_root, row.public_id) for c, row in zip(contacts, rows, strict=True)
            ]
    finally:
        engine.dispose()


def script(cnpj_root: str) -> list[str]:
    """The 6 turns of every conversation (same texts on both sides)."""
    root = f"{cnpj_root[:2]}.{cnpj_root[2:5]}.{cnpj_root[5:]}"
    return ["oi", root, "quanto eu devo?", "obrigado", "vc é um robô?", "tchau"]


TURNS = len(script("00000000"))


# --- the stack --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Stack:
    server_url: str
    rasa_url: str


@contextmanager
def running_stack(tmp: Path, portfolio: str, bare: list[Contact]) -> Iterator[tuple[Stack, list[Contact]]]:
    """`negocia run --no-demo` on free ports, as tests/e2e/conftest.py starts it; SIGINT stops it.

    Yields the stack and ``bare`` with their conversation ids.
    """
    http_port, rasa_port = free_port(), free_port()
    database_url = f"sqlite:///{tmp / 'negocia.db'}"
    env = {
        **os.environ,
        "NEGOCIA_DATABASE_URL": database_url,
        "NEGOCIA_HTTP_PORT": str(http_port),
        "NEGOCIA_RASA_PORT": str(rasa_port),
        "NEGOCIA_ACTIONS_PORT": str(free_port()),
        "NEGOCIA_SERVICE_TOKEN": "bench-token",
    }
    csv_path = tmp / "carteira.csv"
    csv_path.write_text(portfolio, encoding="utf-8")
    for argv in (["db", "upgrade"], ["import-portfolio", str(csv_path)]):
        done = subprocess.run([str(NEGOCIA), *argv], env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"negocia {argv[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    bare = open_conversations(database_url, bare)
    log_path = tmp / "stack.log"
    stack = Stack(f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{rasa_port}")
    with log_path.open("wb") as log:
        # Own session: a Ctrl-C in the terminal reaches only this script, which then stops the
        # stack once, the way `negocia run` expects.
        proc = subprocess.Popen([str(NEGOCIA), "run", "--no-demo"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            wait_ready(proc, stack)
            yield stack, bare
        except BaseException:
            print(f"stack log (tail):\n{log_path.read_text(errors='replace')[-3000:]}", file=sys.stderr)
            raise
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], stack: Stack) -> None:
    started = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"negocia run exited with status {proc.returncode}")
        try:
            if httpx.get(stack.server_url + "/readyz", timeout=2).status_code == 200:
                print(f"stack ready in {time.monotonic() - started:.0f} s", flush=True)
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > START_TIMEOUT_S:
            raise RuntimeError(f"stack not ready within {START_TIMEOUT_S} s")
        time.sleep(1)


# --- measuring --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]  # nearest rank


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    by_turn: list[list[float]] = field(default_factory=lambda: [[] for _ in range(TURNS)])
    wall_s: float = 0.0  # summed wall time of this side's blocks (the other side's excluded)
    conversations: int = 0
    errors: list[str] = field(default_factory=list)
    disclosed: int = 0  # conversations whose CNPJ turn showed the balance: the path really ran

    def turns_per_s(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


Reply = tuple[int, str]  # HTTP status, the bot's texts joined (or the error body)


class Runner:
    def __init__(self, client: httpx.AsyncClient, stack: Stack, contacts: dict[str, list[Contact]]) -> None:
        self._client = client
        self._stack = stack
        # Each contact is used once: every conversation is fresh.
        self._contacts = {side: iter(pool) for side, pool in contacts.items()}

    async def _sandbox_turn(self, contact: Contact, text: str) -> Reply:
        r = await self._client.post(self._stack.server_url + "/channels/sandbox/messages",
                                    json={"sender": contact.phone, "text": text})  # fmt: skip
        body = "\n".join(m["text"] for m in r.json()["messages"]) if r.status_code == 200 else r.text
        return r.status_code, body

    async def _bare_turn(self, contact: Contact, text: str) -> Reply:
        r = await self._client.post(self._stack.rasa_url + "/webhooks/rest/webhook",
                                    json={"sender": contact.conversation_id, "message": text})  # fmt: skip
        body = "\n".join(m.get("text") or "" for m in r.json()) if r.status_code == 200 else r.text
        return r.status_code, body

    async def conversation(self, side: str, result: Result | None) -> None:
        """One fresh conversation; with ``result`` None (warm-up) nothing is recorded."""
        contact = next(self._contacts[side])
        turn: Callable[[Contact, str], Awaitable[Reply]] = (
            self._sandbox_turn if side == SANDBOX else self._bare_turn
        )
        for index, text in enumerate(script(contact.cnpj_root)):
            start = time.perf_counter()
            try:
                status, body = await turn(contact, text)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                status, body = 0, f"{type(exc).__name__}: {exc}"
            elapsed_ms = (time.perf_counter() - start) * 1000
            if result is None:
                continue
            if status != 200:
                result.errors.append(
                    f"{side} {contact.phone} turn {index + 1} ({text!r}): {status} {body[:200]}"
                )
                continue
            result.latencies_ms.append(elapsed_ms)
            result.by_turn[index].append(elapsed_ms)
            if index == 1 and "R$" in body:
                result.disclosed += 1

    async def block(self, side: str, size: int, result: Result | None) -> None:
        """``size`` conversations started at once; the block's wall time goes to ``result``."""
        start = time.perf_counter()
        await asyncio.gather(*(self.conversation(side, result) for _ in range(size)))
        if result is not None:
            result.wall_s += time.perf_counter() - start
            result.conversations += size


def abba(blocks_per_side: int) -> list[str]:
    order: list[str] = []
    for i in range(blocks_per_side):
        order += [SANDBOX, BARE] if i % 2 == 0 else [BARE, SANDBOX]
    return order


async def measure(
    stack: Stack, contacts: dict[str, list[Contact]], args: argparse.Namespace
) -> dict[tuple[str, str], Result]:
    limits = httpx.Limits(
        max_connections=2 * args.concurrency, max_keepalive_connections=2 * args.concurrency
    )
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        runner = Runner(client, stack, contacts)
        t0 = time.perf_counter()
        for side in abba(WARMUP_CONVERSATIONS):
            await runner.block(side, 1, None)
        print(f"warm-up done in {time.perf_counter() - t0:.0f} s", flush=True)
        results = {(case, side): Result() for case in CASES for side in SIDES}
        plans = {
            "sequential": [(side, 1) for side in abba(args.sequential)],
            "concurrent": [(side, args.concurrency) for side in abba(args.concurrent // args.concurrency)],
        }
        for case, plan in plans.items():
            # Half the budget each: a slow machine still measures the concurrent case (the one in
            # the last line), on fewer conversations.
            deadline = time.monotonic() + args.max_seconds / len(plans)
            for done, (side, size) in enumerate(plan):
                if time.monotonic() > deadline:
                    print(f"{case}: time budget spent after {done} of {len(plan)} blocks", flush=True)
                    break
                await runner.block(side, size, results[(case, side)])
        return results


# --- report -----------------------------------------------------------------------------------


def _int(value: float) -> int:
    return 0 if math.isnan(value) else round(value)


def report(results: dict[tuple[str, str], Result], concurrency: int) -> None:
    def label(case: str, side: str) -> str:
        return f"{'sequential' if case == 'sequential' else f'{concurrency} concurrent'} {side}"

    print()
    print("sandbox: registered phone through the gateway (DB writes, lock, contact lookup) and Rasa.")
    print("bare Rasa: same rasa process and model, same dialogue (senders are conversation ids")
    print("  registered beforehand, as the gateway sends them); the gateway is left out.")
    print()
    print(f"{'case':<26}{'convs':>6}{'turns':>7}{'turns/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
    for (case, side), r in results.items():
        print(f"{label(case, side):<26}{r.conversations:>6}{len(r.latencies_ms):>7}{r.turns_per_s():>9.1f}"
              f"{r.p(0.5):>9.0f}{r.p(0.95):>9.0f}{len(r.errors):>8}")  # fmt: skip
    # Where a conversation's time goes: turns 1 and 2 run actions that call the server back
    # (session start, identity check, balances); the others are NLU and policies only.
    print()
    print("p50 ms by turn:", " | ".join(f"{i + 1} {t!r}" for i, t in enumerate(script("12345678"))))
    for (case, side), r in results.items():
        print(f"  {label(case, side):<24}" + "".join(f"{percentile(t, 0.5):>8.0f}" for t in r.by_turn))
    print()
    for key, r in results.items():
        print(f"{label(*key)}: balance shown after the CNPJ in {r.disclosed}/{r.conversations} conversations")
    errors = [e for r in results.values() for e in r.errors]
    for line in errors[:50]:
        print("error:", line)
    if len(errors) > 50:
        print(f"... and {len(errors) - 50} more errors")
    sandbox, bare = results[("concurrent", SANDBOX)], results[("concurrent", BARE)]
    print(f"turns_per_s={_int(sandbox.turns_per_s())} p95_ms={_int(sandbox.p(0.95))} "
          f"bare_rasa_turns_per_s={_int(bare.turns_per_s())} bare_rasa_p95_ms={_int(bare.p(0.95))}")  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", default="20,40", metavar="SEQ[,CONC]",
                        help="conversations per side and case: sequential,concurrent (one number: both)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=20, help="conversations at once")
    parser.add_argument("--max-seconds", type=float, default=240,
                        help="time budget of the measured part (split between the two cases)")  # fmt: skip
    args = parser.parse_args()
    try:
        parts = [int(p) for p in str(args.conversations).split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1 or args.concurrency < 1:
        parser.error("--conversations takes SEQ or SEQ,CONC (positive); --concurrency is positive")
    args.sequential = parts[0]
    # Whole rounds, so every round has exactly `concurrency` conversations in flight.
    args.concurrent = math.ceil(parts[-1] / args.concurrency) * args.concurrency
    return args


def _terminate(signum: int, _frame: FrameType | None) -> None:
    print(f"stopped by signal {signum}", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)  # unwinds through the stack's `finally`


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    per_side = WARMUP_CONVERSATIONS + args.sequential + args.concurrent
    portfolio, contacts = build_portfolio(2 * per_side, local_today(SystemClock()))
    print(f"{2 * per_side} registered contacts; per side {args.sequential} sequential and {args.concurrent} "
          f"concurrent ({args.concurrency} at once) {TURNS}-turn conversations", flush=True)  # fmt: skip
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        # Rasa's turn is CPU-bound: other work on the machine inflates every figure below.
        print(f"warning: load average {load:.1f} on {os.cpu_count()} cores before starting", flush=True)
    with tempfile.TemporaryDirectory(prefix="negocia-bench-") as tmp:
        with running_stack(Path(tmp), portfolio, contacts[per_side:]) as (stack, bare):
            results = asyncio.run(measure(stack, {SANDBOX: contacts[:per_side], BARE: bare}, args))
        if any(r.errors for r in results.values()):
            # The stack's own log says why turns failed; keep it beyond the temporary directory.
            kept = Path(tempfile.gettempdir()) / f"negocia-bench-{time.strftime('%Y%m%d-%H%M%S')}.log"
            shutil.copyfile(Path(tmp) / "stack.log", kept)
            print(f"errors: the stack's log is kept in {kept}")
    report(results, args.concurrency)
    return 1 if any(r.errors for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
