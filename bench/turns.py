"""Turns per second and latency of the sandbox channel next to Rasa's bare REST channel.

Starts the real stack (`negocia run --no-demo` on free loopback ports, a fresh SQLite database and
a generated portfolio with one registered contact per conversation), then runs fresh 6-turn
conversations, identical on both sides:

- sandbox: `POST /channels/sandbox/messages` from a registered phone (gateway, DB writes, Rasa,
  action server, internal API): the path a debtor's message takes;
- bare Rasa: `POST /webhooks/rest/webhook` on the same `rasa run` process (same model) with a
  random sender id.

Every conversation is new (a turn's cost in Rasa grows with the tracker's length, so reusing one
conversation would measure something else). Two cases per side: sequential (one conversation at a
time) and concurrent (``--concurrency`` conversations started at once, each one's turns in order).
Sides alternate in A B B A order so that neither benefits from running later (warmer caches) or
earlier (smaller in-memory tracker store). Prints a table and ends with one line for the
concurrent case:

    turns_per_s=<n> p95_ms=<n> bare_rasa_turns_per_s=<n> bare_rasa_p95_ms=<n>

    .venv/bin/python bench/turns.py [--conversations 40,60] [--concurrency 20]

The trained model must exist (`make train`); otherwise `negocia run` trains it first (minutes).
Only loopback traffic; every loop is bounded and the run stops by itself (``--max-seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import FrameType

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.domain.cnpj import check_digits  # noqa: E402

NEGOCIA = ROOT / ".venv" / "bin" / "negocia"
START_TIMEOUT_S = 420  # model load ~40 s; a first training takes minutes more
STOP_TIMEOUT_S = 40
REQUEST_TIMEOUT_S = 60.0
WARMUP_SEQUENTIAL = 2  # per side, before the concurrent warm-up round
SANDBOX = "sandbox"
BARE = "bare Rasa"
SIDES = (SANDBOX, BARE)
HEADER = "cnpj;razao_social;segmento;contato_nome;contato_telefone;contato_email;fatura;emissao;vencimento;valor;descricao"


# --- portfolio --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    phone: str  # E.164, as the sandbox sender
    cnpj_root: str  # what the contact types to prove who they are


def build_portfolio(n: int, today: date, seed: int = 7) -> tuple[str, list[Contact]]:
    """A CSV with ``n`` debtors, each with its own contact (distinct phones) and 1–2 overdue invoices."""
    rng = random.Random(seed)
    lines = [HEADER]
    contacts = []
    for i in range(n):
        # Distinct roots far from the default creditor's (33445566) and from the e2e fixtures'.
        first12 = f"{61_000_000 + i * 7:08d}0001"
        cnpj = first12 + check_digits(first12)
        shown = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
        # Contacts are matched on DDD + the last 8 digits: those 8 must differ between contacts.
        number = f"9{70_000_000 + i:08d}"
        phone_csv = f"(31) {number[:5]}-{number[5:]}"
        for k in range(1 + i % 2):
            due = today - timedelta(days=rng.randint(15, 180))
            issued = due - timedelta(days=30)
            amount = f"{rng.randint(300, 9000)}.{rng.randint(0, 99):02d}"
            lines.append(
                f"{shown};Comércio Bench {i:04d} Ltda;varejo;Contato {i:04d};{phone_csv};;"
                f"NF-{i}-{k};{issued:%d/%m/%Y};{due:%d/%m/%Y};{amount};Mercadorias"
            )
        contacts.append(Contact(phone=f"+5531{number}", cnpj_root=cnpj[:8]))
    return "\n".join(lines) + "\n", contacts


def script(cnpj_root: str) -> list[str]:
    """The 6 turns of every conversation (same texts on both sides)."""
    return ["oi", f"{cnpj_root[:2]}.{cnpj_root[2:5]}.{cnpj_root[5:]}", "quanto eu devo?", "obrigado",
            "vc é um robô?", "tchau"]  # fmt: skip


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
    log_path: Path


@contextmanager
def running_stack(tmp: Path, portfolio: str) -> Iterator[Stack]:
    """`negocia run --no-demo` on free ports, as tests/e2e/conftest.py starts it; SIGINT to stop."""
    http_port, rasa_port = free_port(), free_port()
    env = {
        **os.environ,
        "NEGOCIA_DATABASE_URL": f"sqlite:///{tmp / 'negocia.db'}",
        "NEGOCIA_HTTP_PORT": str(http_port),
        "NEGOCIA_RASA_PORT": str(rasa_port),
        "NEGOCIA_ACTIONS_PORT": str(free_port()),
        "NEGOCIA_SERVICE_TOKEN": "bench-token",
    }
    csv_path = tmp / "carteira.csv"
    csv_path.write_text(portfolio, encoding="utf-8")
    subprocess.run([str(NEGOCIA), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([str(NEGOCIA), "import-portfolio", str(csv_path)], env=env, cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    log_path = tmp / "stack.log"
    stack = Stack(f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{rasa_port}", log_path)
    with log_path.open("wb") as log:
        # Own session: a Ctrl-C in the terminal reaches only this script, which then stops the
        # stack once, the way `negocia run` expects (SIGINT).
        proc = subprocess.Popen([str(NEGOCIA), "run", "--no-demo"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            wait_ready(proc, stack)
            yield stack
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
    deadline = started + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"negocia run exited with status {proc.returncode}")
        try:
            if httpx.get(stack.server_url + "/readyz", timeout=2).status_code == 200:
                print(f"stack ready in {time.monotonic() - started:.0f} s", flush=True)
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"stack not ready within {START_TIMEOUT_S} s")
        time.sleep(1)


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    by_turn: list[list[float]] = field(default_factory=lambda: [[] for _ in range(TURNS)])
    wall_s: float = 0.0  # summed wall time of this side's blocks (the other side's are excluded)
    conversations: int = 0
    errors: list[str] = field(default_factory=list)
    disclosed: int = 0  # sandbox conversations whose CNPJ turn showed the balance

    def turns_per_s(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]  # nearest rank


Turn = Callable[[str, str], Awaitable[tuple[int, str]]]


class Runner:
    def __init__(self, client: httpx.AsyncClient, stack: Stack, contacts: list[Contact]) -> None:
        self._client = client
        self._stack = stack
        self._contacts = iter(contacts)  # each one used once: every sandbox conversation is fresh

    async def _sandbox_turn(self, sender: str, text: str) -> tuple[int, str]:
        r = await self._client.post(self._stack.server_url + "/channels/sandbox/messages",
                                    json={"sender": sender, "text": text})  # fmt: skip
        body = "\n".join(m["text"] for m in r.json()["messages"]) if r.status_code == 200 else r.text
        return r.status_code, body

    async def _bare_turn(self, sender: str, text: str) -> tuple[int, str]:
        r = await self._client.post(self._stack.rasa_url + "/webhooks/rest/webhook",
                                    json={"sender": sender, "message": text})  # fmt: skip
        body = "\n".join(m.get("text") or "" for m in r.json()) if r.status_code == 200 else r.text
        return r.status_code, body

    async def conversation(self, side: str, result: Result | None) -> None:
        """One fresh conversation; ``result`` None for warm-up (nothing recorded)."""
        contact = next(self._contacts)
        if side == SANDBOX:
            sender, turn = contact.phone, self._sandbox_turn
        else:
            # Unknown to the server: its actions' lookups answer 404 and the dialogue takes the
            # not-found path. Same model, same engine, same action server; no gateway.
            sender, turn = f"bench-{uuid.uuid4().hex}", self._bare_turn
        for index, text in enumerate(script(contact.cnpj_root)):
            start = time.perf_counter()
            try:
                status, body = await turn(sender, text)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                status, body = 0, f"{type(exc).__name__}: {exc}"
            elapsed_ms = (time.perf_counter() - start) * 1000
            if result is None:
                continue
            if status != 200:
                result.errors.append(f"{side} {sender} turn {index + 1} ({text!r}): {status} {body[:200]}")
                continue
            result.latencies_ms.append(elapsed_ms)
            result.by_turn[index].append(elapsed_ms)
            if side == SANDBOX and index == 1 and "R$" in body:
                result.disclosed += 1

    async def block(self, side: str, size: int, result: Result | None) -> None:
        """``size`` conversations started at once; the block's wall time goes to ``result``."""
        start = time.perf_counter()
        await asyncio.gather(*(self.conversation(side, result) for _ in range(size)))
        if result is not None:
            result.wall_s += time.perf_counter() - start
            result.conversations += size


def abba(n_blocks: int) -> list[str]:
    """Sides in A B B A A B B A ... order, ``n_blocks`` blocks per side."""
    order = []
    for i in range(n_blocks):
        order += [SANDBOX, BARE] if i % 2 == 0 else [BARE, SANDBOX]
    return order


async def measure(
    stack: Stack, contacts: list[Contact], sequential: int, concurrent: int, concurrency: int, deadline: float
) -> dict[tuple[str, str], Result]:
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        runner = Runner(client, stack, contacts)
        # Warm-up on both sides: first turns pay for TensorFlow graph tracing, connection pools,
        # SQLite page cache; a concurrent round warms the thread pools too.
        t0 = time.perf_counter()
        for side in SIDES:
            for _ in range(WARMUP_SEQUENTIAL):
                await runner.block(side, 1, None)
            await runner.block(side, concurrency, None)
        print(f"warm-up done in {time.perf_counter() - t0:.0f} s", flush=True)

        results = {(case, side): Result() for case in ("sequential", "concurrent") for side in SIDES}
        plan = [("sequential", side, 1) for side in abba(sequential)]
        plan += [("concurrent", side, concurrency) for side in abba(concurrent // concurrency)]
        for done, (case, side, size) in enumerate(plan):
            if time.monotonic() > deadline:
                print(f"time budget spent: stopping after {done} of {len(plan)} blocks", flush=True)
                break
            await runner.block(side, size, results[(case, side)])
        return results


# --- report -----------------------------------------------------------------------------------


def report(results: dict[tuple[str, str], Result], concurrency: int) -> None:
    print()
    print("sandbox: registered phone, real gateway path (DB writes, identity check, balances).")
    print("bare Rasa: same rasa process and model, random sender ids the server does not know,")
    print("  so the actions' server lookups answer 404 and the dialogue takes the not-found path;")
    print("  it measures the engine's cost with the same model, not the same conversation.")
    print()
    print(f"{'case':<26}{'convs':>6}{'turns':>7}{'turns/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
    for (case, side), r in results.items():
        label = f"{'sequential' if case == 'sequential' else f'{concurrency} concurrent'} {side}"
        print(f"{label:<26}{r.conversations:>6}{len(r.latencies_ms):>7}{r.turns_per_s():>9.1f}"
              f"{r.percentile(0.5):>9.0f}{r.percentile(0.95):>9.0f}{len(r.errors):>8}")  # fmt: skip
    # Where a conversation's time goes: turn 2 (identity check + balances) and turn 1 (session
    # start) run actions that call the server back; the others are NLU + policies only.
    print()
    print("p50 ms by turn:", " | ".join(f"{i + 1} {t!r}" for i, t in enumerate(script("12345678"))))
    for (case, side), r in results.items():
        label = f"{'sequential' if case == 'sequential' else f'{concurrency} concurrent'} {side}"
        print(f"  {label:<24}" + "".join(f"{percentile(t, 0.5):>8.0f}" for t in r.by_turn))
    for case in ("sequential", "concurrent"):
        r = results[(case, SANDBOX)]
        print(
            f"{case} sandbox conversations that saw their balance after the CNPJ: {r.disclosed}/{r.conversations}"
        )
    errors = [e for r in results.values() for e in r.errors]
    for line in errors[:50]:
        print("error:", line)
    if len(errors) > 50:
        print(f"... and {len(errors) - 50} more errors")
    sandbox, bare = results[("concurrent", SANDBOX)], results[("concurrent", BARE)]
    print(f"turns_per_s={round(sandbox.turns_per_s())} p95_ms={round(sandbox.percentile(0.95))} "
          f"bare_rasa_turns_per_s={round(bare.turns_per_s())} bare_rasa_p95_ms={round(bare.percentile(0.95))}")  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", default="40,60", metavar="SEQ[,CONC]",
                        help="conversations per side: sequential,concurrent (one number: both)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=20, help="conversations at once")
    parser.add_argument("--max-seconds", type=float, default=300, help="time budget of the measured part")
    args = parser.parse_args()
    parts = [int(p) for p in str(args.conversations).split(",")]
    if len(parts) not in (1, 2) or min(parts) < 1 or args.concurrency < 1:
        parser.error("--conversations takes SEQ or SEQ,CONC (positive); --concurrency positive")
    args.sequential, concurrent = parts[0], parts[-1]
    # Whole rounds of `concurrency` conversations, so every round has exactly that many in flight.
    args.concurrent = max(1, math.ceil(concurrent / args.concurrency)) * args.concurrency
    return args


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the stack's `finally`


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    warmup = len(SIDES) * (WARMUP_SEQUENTIAL + args.concurrency)
    needed = warmup + len(SIDES) * (args.sequential + args.concurrent)
    portfolio, contacts = build_portfolio(needed, date.today())
    print(f"{needed} registered contacts; {args.sequential} sequential and {args.concurrent} "
          f"concurrent ({args.concurrency} at once) {TURNS}-turn conversations per side", flush=True)  # fmt: skip
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        # Rasa's turn is CPU-bound: other work on the machine inflates every figure below.
        print(f"warning: load average {load:.1f} on {os.cpu_count()} cores before starting", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="negocia-bench-") as tmp,
        running_stack(Path(tmp), portfolio) as stack,
    ):
        deadline = time.monotonic() + args.max_seconds
        results = asyncio.run(
            measure(stack, contacts, args.sequential, args.concurrent, args.concurrency, deadline)
        )
    report(results, args.concurrency)
    return 1 if any(r.errors for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
