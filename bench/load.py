"""N concurrent simulated debtors negotiating over signed WhatsApp webhooks, full stack on
PostgreSQL + Redis (replies through the fake Twilio), beside bare Rasa's REST channel serving
`rasa init`'s model; then one 300-turn conversation (turns 1-20 against 280-300).

    .venv/bin/python bench/load.py [--debtors 20] [--turns 24] [--ramp 1] [--long 300] [--rasa-pairs 1]

Latency: webhook sent -> first reply received by the fake Twilio. A turn with no reply within
--timeout is lost. Each simulated debtor sends its next message as soon as its last turn is over
(no think time; over = its inbound message marked processed, read from the database, which the
server does after handing every reply to Twilio), so at N debtors the mean latency is about N / turns_per_s; the debtors start
over --ramp seconds, on both sides. Also printed: CPU per turn of each process and of the whole
machine, and the server's requests per turn by route. Bare Rasa runs the same round once before
negocia's and once after (both stacks loaded, only one working); its figure is the mean of the two.
--rasa-pairs N puts N Rasa + action-server pairs behind the server. Ends with one line:
turns_per_s=<n> bare_rasa_turns_per_s=<n> ratio=<n> p95_ms=<n> p99_ms=<n> errors=<n> lost=<n>
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.clock import SystemClock, local_today  # noqa: E402
from server.domain.cnpj import check_digits, format_cnpj  # noqa: E402
from server.rasa_model import RASA_VERSION  # noqa: E402
from tests.e2e.conftest import NEGOCIA, free_port  # noqa: E402
from tests.e2e.supervisor import make_node, scratch_database  # noqa: E402
from tests.fakes_twilio import ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_FROM, FakeTwilio, inbound_form, signed_post  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/10"
NEGOTIATION = ["oi", "{root}", "quais as opções?", "1", "não", "obrigado", "quanto devo?", "tchau"]
BARE = ["hello", "I am sad", "yes", "great", "bye", "hi there", "no", "goodbye"]
INIT_DIR = Path.home() / ".cache" / "negocia" / f"rasa-init-{RASA_VERSION}"


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def portfolio(n: int, path: Path) -> list[tuple[str, str]]:
    today = local_today(SystemClock())
    due, issued = (today - timedelta(days=30)).isoformat(), (today - timedelta(days=60)).isoformat()
    rows = [
        "cnpj,razao_social,segmento,contato_nome,contato_telefone,contato_email,fatura,emissao,vencimento,valor,descricao"
    ]
    debtors = []
    for i in range(n + 2):  # n debtors, one for the long conversation, one to warm up
        first12 = f"{71000000 + i:08d}0001"
        phone = f"+55319{80000000 + i:08d}"
        rows.append(
            f"{format_cnpj(first12 + check_digits(first12))},Carga {i} Ltda,varejo,Contato {i},{phone},,NF-{i},{issued},{due},1500.00,Pedido"
        )
        debtors.append((phone, first12[:8]))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return debtors


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.lost = 0
        self.lock = threading.Lock()

    def add(self, latency: float | None, error: bool = False) -> None:
        with self.lock:
            if error:
                self.errors += 1
            elif latency is None:
                self.lost += 1
            else:
                self.latencies.append(latency)


class TurnWatch:
    """Whether the server has finished a turn: the inbound message is marked processed only after
    every reply of its turn was handed to Twilio. Pairing replies with turns this way (not by a
    quiet gap after the first reply) keeps a turn's slower later replies from counting as the next
    turn's reply, which let a debtor run ahead of its replies and pile messages up."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url.replace("postgresql+psycopg://", "postgresql://")
        self._local = threading.local()

    def processed(self, sid: str) -> bool:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = psycopg.connect(self._url, autocommit=True)
        row = conn.execute(
            "SELECT processing FROM messages WHERE provider_message_id = %s", (sid,)
        ).fetchone()
        return bool(row and row[0] == "processed")

    def wait(self, sid: str, timeout: float) -> bool:
        deadline, pause = time.monotonic() + timeout, 0.002
        while not self.processed(sid):
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return True


def negocia_turn(
    base: str,
    twilio: FakeTwilio,
    watch: TurnWatch,
    client: httpx.Client,
    phone: str,
    text: str,
    timeout: float,
) -> float | None:
    before = len(twilio.sent_to(phone))
    sid = "SM" + uuid.uuid4().hex
    body, headers = signed_post(inbound_form(phone, text, sid), base_url=base)
    t0 = time.monotonic()
    r = client.post(base + "/channels/whatsapp", content=body, headers=headers)
    if r.status_code != 200:
        raise RuntimeError(f"webhook {r.status_code}")
    sent = twilio.wait_for_sent_to(phone, before + 1, timeout)
    if len(sent) <= before:
        return None
    latency = float(sent[before]["received_at"]) - t0  # type: ignore[arg-type]
    # The next message goes only once this turn is over, as a debtor reads every reply first.
    if not watch.wait(sid, max(timeout - latency, 1.0)):
        return None
    return latency


def bare_turn(client: httpx.Client, url: str, sender: str, text: str) -> float:
    t0 = time.monotonic()
    r = client.post(url, json={"sender": sender, "message": text})
    r.raise_for_status()
    return time.monotonic() - t0


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of one process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat, after pid and (comm)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def named_cpu_s(comm: str) -> float:
    """CPU seconds used so far by the live processes named ``comm`` (PostgreSQL's backends, Redis)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, fields = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[1] == comm:
            values = fields.split()
            total += int(values[11]) + int(values[12])
    return total / tick


SERVICES = ("postgres", "redis-server")


def machine_cpu_s() -> float:
    """CPU seconds every core spent busy since boot (all processes, PostgreSQL and Redis too)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def route_counts(base: str) -> dict[str, tuple[float, float]]:
    """Per route template: (requests, seconds spent), from the server's /metrics."""
    counts: dict[str, list[float]] = {}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        for name, slot in (
            ("negocia_http_requests_total{", 0),
            ("negocia_http_request_duration_seconds_sum{", 1),
        ):
            if line.startswith(name):
                labels, value = line[len(name) :].rsplit("} ", 1)
                route = labels.split('route="', 1)[1].split('"', 1)[0]
                counts.setdefault(route, [0.0, 0.0])[slot] += float(value)
    return {route: (n, seconds) for route, (n, seconds) in counts.items()}


def run_concurrent(n: int, job, ramp_s: float = 0.0) -> float:  # type: ignore[no-untyped-def]
    """Runs ``job(i)`` for n debtors at once; debtor i starts i * ramp_s / n seconds in (debtors
    do not all answer in the same millisecond). Returns the seconds from the first start to the
    last turn."""
    t0 = time.monotonic()

    def staggered(i: int) -> None:
        time.sleep(i * ramp_s / n)
        job(i)

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(staggered, range(n)))
    return time.monotonic() - t0


def spread(values: list[float]) -> str:
    return ", ".join(f"p{q} {pct(values, q) * 1000:.0f} ms" for q in (50, 75, 90, 95, 99)) + (
        f", max {max(values) * 1000:.0f} ms" if values else ""
    )


class BareRasa:
    """`rasa run` on `rasa init`'s model, REST channel, in-memory tracker store: bare Rasa.

    Started before negocia and measured once before and once after it (fresh conversations each
    round): on these shared machines the same bare round has moved between 23 and 31 turns/s from
    one run to the next, so the figure negocia is compared with is the mean of the two rounds
    around it, not one round minutes apart."""

    def __init__(self) -> None:
        rasa = ROOT / ".venv-rasa" / "bin" / "rasa"
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
        model = INIT_DIR / "models" / "init.tar.gz"
        if not model.exists():
            INIT_DIR.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(rasa), "init", "--no-prompt", "--init-dir", str(INIT_DIR)], env=env, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            subprocess.run([str(rasa), "train", "--fixed-model-name", "init", "--out", "models"], cwd=INIT_DIR,
                           env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        port = free_port()
        self.proc = subprocess.Popen([str(rasa), "run", "--port", str(port), "--model", str(model), "--interface", "127.0.0.1"],
                                     cwd=INIT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"

    def wait_up(self) -> None:
        # Rasa's root answers once the model is loaded (/status needs --enable-api, off here).
        deadline = time.monotonic() + 600
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bare rasa exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("bare rasa not up in 10 minutes")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        with httpx.Client(timeout=60) as client:
            for t in range(len(BARE)):  # warm-up, as on negocia's side
                bare_turn(client, self.url + "/webhooks/rest/webhook", "warmup", BARE[t])

    def round(self, n: int, turns: int, ramp_s: float, name: str) -> tuple[float, Stats]:
        stats = Stats()
        client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=n + 4))

        def debtor(i: int) -> None:
            sender = uuid.uuid4().hex
            for t in range(turns):
                try:
                    stats.add(
                        bare_turn(client, self.url + "/webhooks/rest/webhook", sender, BARE[t % len(BARE)])
                    )
                except httpx.HTTPError:
                    stats.add(None, error=True)

        cpu_before = group_cpu_s(self.proc.pid)
        elapsed = run_concurrent(n, debtor, ramp_s)
        client.close()
        cpu = (group_cpu_s(self.proc.pid) - cpu_before) / max(len(stats.latencies), 1) * 1000
        print(f"bare rasa ({name}): {len(stats.latencies) / elapsed:.1f} turns/s, {spread(stats.latencies)}, "
              f"errors {stats.errors}, CPU per turn {cpu:.0f} ms", flush=True)  # fmt: skip
        return elapsed, stats

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--debtors", type=int, default=20)
    ap.add_argument("--turns", type=int, default=24)
    ap.add_argument("--ramp", type=float, default=1.0, help="seconds over which the debtors start")
    ap.add_argument("--long", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--rasa-pairs", type=int, default=1, help="Rasa + action-server pairs behind the server")
    args = ap.parse_args()
    twilio = FakeTwilio().start()
    tmp = Path(tempfile.mkdtemp(prefix="negocia-load-"))
    with scratch_database() as url:
        http_port = free_port()
        extra = {
            "NEGOCIA_HTTP_PORT": str(http_port), "NEGOCIA_PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
            "NEGOCIA_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "NEGOCIA_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "NEGOCIA_TWILIO_WHATSAPP_FROM": WHATSAPP_FROM, "NEGOCIA_TWILIO_API_BASE_URL": twilio.url,
            "NEGOCIA_LOG_LEVEL": "WARNING",
            "NEGOCIA_RATE_LIMIT_ENABLED": "false",  # one simulated debtor writes 300 times in minutes
        }  # fmt: skip
        # Pairs beyond the first: their own Rasa and action server on the same database and Redis,
        # listed with the first one's in the server's NEGOCIA_RASA_URL.
        pairs = [make_node(f"load-pair{k}", tmp, url, REDIS_URL, extra) for k in range(1, args.rasa_pairs)]
        if pairs:
            rasa_port = str(free_port())
            extra["NEGOCIA_RASA_PORT"] = rasa_port
            extra["NEGOCIA_RASA_URL"] = ",".join(
                f"http://127.0.0.1:{port}"
                for port in [rasa_port, *(p.env["NEGOCIA_RASA_PORT"] for p in pairs)]
            )
        node = make_node("load", tmp, url, REDIS_URL, extra)
        debtors = portfolio(args.debtors, tmp / "carteira.csv")
        full = {**os.environ, **node.env}
        subprocess.run([str(NEGOCIA), "db", "upgrade"], env=full, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([str(NEGOCIA), "import-portfolio", str(tmp / "carteira.csv")], env=full, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        bare = BareRasa()  # loads its model while negocia's processes load theirs
        for pair in pairs:
            for which in ("actions", "rasa"):
                pair.start(which)
        for which in ("actions", "rasa", "server"):
            node.start(which)
        try:
            bare.wait_up()
            for pair in pairs:
                for which in ("actions", "rasa"):
                    pair.wait_up(which)
            for which in ("actions", "rasa", "server"):
                node.wait_up(which)
            base = node.base_url
            watch = TurnWatch(url)
            client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=args.debtors + 4))
            # Warm-up, as on the bare side: Rasa's first predictions build TensorFlow graphs.
            phone, root = debtors[args.debtors + 1]
            for t in range(args.turns):
                negocia_turn(
                    base,
                    twilio,
                    watch,
                    client,
                    phone,
                    NEGOTIATION[t % len(NEGOTIATION)].format(root=root),
                    60,
                )
            stats = Stats()

            def debtor(i: int) -> None:
                phone, root = debtors[i]
                for t in range(args.turns):
                    text = NEGOTIATION[t % len(NEGOTIATION)].format(root=root)
                    try:
                        latency = negocia_turn(base, twilio, watch, client, phone, text, args.timeout)
                    except Exception:
                        stats.add(None, error=True)
                        continue
                    stats.add(latency)
                    if latency is None:
                        print(f"no reply: debtor {i} turn {t} {text!r}", flush=True)

            bare_rounds = [bare.round(args.debtors, args.turns, args.ramp, "before")]
            groups = {which: node.services[which].process.pid for which in ("server", "rasa", "actions")}  # type: ignore[union-attr]
            for k, pair in enumerate(pairs, start=2):
                groups.update(
                    {f"{which}{k}": pair.services[which].process.pid for which in ("rasa", "actions")}
                )  # type: ignore[union-attr]
            cpu_before = {which: group_cpu_s(pgid) for which, pgid in groups.items()}
            services_before = {name: named_cpu_s(name) for name in SERVICES}
            machine_before, bench_before = machine_cpu_s(), time.process_time()
            routes_before = route_counts(base)
            print(f"warm-up done: {args.debtors} debtors start", flush=True)
            elapsed = run_concurrent(args.debtors, debtor, args.ramp)
            turns = args.debtors * args.turns
            tps = len(stats.latencies) / elapsed
            per_turn = {which: (group_cpu_s(pgid) - cpu_before[which]) / max(len(stats.latencies), 1) * 1000
                        for which, pgid in groups.items()}  # fmt: skip
            per_turn.update({name: (named_cpu_s(name) - services_before[name]) / max(len(stats.latencies), 1) * 1000
                             for name in SERVICES})  # fmt: skip
            machine = (machine_cpu_s() - machine_before) / max(len(stats.latencies), 1) * 1000
            bench = (time.process_time() - bench_before) / max(len(stats.latencies), 1) * 1000
            print("negocia CPU per turn: " + ", ".join(f"{k} {v:.0f} ms" for k, v in per_turn.items())
                  + f", this benchmark {bench:.0f} ms, whole machine {machine:.0f} ms "
                  f"({machine * tps / 20:.0f} % of 2 cores)", flush=True)  # fmt: skip
            done = max(len(stats.latencies), 1)
            routes = {r: (n - routes_before.get(r, (0, 0))[0], t - routes_before.get(r, (0, 0))[1])
                      for r, (n, t) in route_counts(base).items()}  # fmt: skip
            print("server requests per turn (route: count, mean ms): " + "; ".join(
                f"{r}: {n / done:.2f}, {t / n * 1000:.1f}" for r, (n, t) in sorted(routes.items(), key=lambda x: -x[1][0])
                if n and r != "/metrics"), flush=True)  # fmt: skip
            print(f"negocia: {args.debtors} debtors x {args.turns} turns = {turns} in {elapsed:.1f}s: "
                  f"{tps:.1f} turns/s, {spread(stats.latencies)}, errors {stats.errors}, lost {stats.lost}",
                  flush=True)  # fmt: skip
            bare_rounds.append(bare.round(args.debtors, args.turns, args.ramp, "after"))

            long_lat: list[float | None] = []
            if args.long:
                phone, root = debtors[args.debtors]
                for t in range(args.long):
                    text = root if t == 1 else ("quanto devo?" if t % 2 else "obrigado")
                    try:
                        long_lat.append(negocia_turn(base, twilio, watch, client, phone, text, args.timeout))
                    except Exception:
                        long_lat.append(None)
        finally:
            bare.stop()
            node.stop_all()
            for pair in pairs:
                pair.stop_all()
            twilio.stop()
    bare_tps = statistics.mean(len(st.latencies) / elapsed for elapsed, st in bare_rounds)
    bare_errors = sum(st.errors for _elapsed, st in bare_rounds)
    print(f"bare rasa (rasa init, REST), mean of the rounds before and after: {bare_tps:.1f} turns/s, "
          f"errors {bare_errors}", flush=True)  # fmt: skip
    if long_lat:
        head = [x for x in long_lat[:20] if x is not None]
        tail = [x for x in long_lat[279:300] if x is not None]
        print(f"{args.long}-turn conversation: median turns 1-20 {statistics.median(head) * 1000:.0f} ms, "
              f"turns 280-300 {statistics.median(tail) * 1000 if tail else 0:.0f} ms, "
              f"lost {sum(x is None for x in long_lat)}")  # fmt: skip
    ratio = tps / bare_tps if bare_tps else 0.0
    print(f"turns_per_s={tps:.1f} bare_rasa_turns_per_s={bare_tps:.1f} ratio={ratio:.2f} "
          f"p95_ms={pct(stats.latencies, 95) * 1000:.0f} p99_ms={pct(stats.latencies, 99) * 1000:.0f} "
          f"errors={stats.errors} lost={stats.lost}")  # fmt: skip


if __name__ == "__main__":
    main()
