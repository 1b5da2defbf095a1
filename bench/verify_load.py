"""Letter verification under load, and a letter made on demand, served by gunicorn on PostgreSQL.

Run it from the repository root:

    .venv/bin/python -m bench.verify_load [--seconds 30] [--rate 200] [--requests 100] [--paper-rate 5]

Setup (not timed): a brand-new PostgreSQL database (bench.relief's), migrated and configured with
bench.imports' four components and its closed 6-hour outage of pr-portal, `--cases` cases (default
100) with deadlines inside it, relief run and the owed letters issued in this process (an extension
notice and a paper-filing letter per case: 200 letters). The configuration raises both self-service
rate limits to 100000/minute, so that what is measured is serving, not refusing; the limiter still
counts every request, in Redis, since REDIS_URL is set (db 12, or PORTALWATCH_BENCH_REDIS) and that
is what distributed mode does. gunicorn then runs `monitor.wsgi:app` with the shipped configuration
(monitor/web/gunicorn_conf.py, unchanged: its gevent workers, 2 by default, and its access log, here
to a file), bound to a free port on 127.0.0.1, with the data directory holding the signing key.

The load: an open-loop generator in this process. Request i is due at start + i / rate; a pool of
threads (`--connections`, each with its own keep-alive HTTP/1.1 connection) takes the next due
request, waits for its time, sends it and reads the answer. Latency is measured from the time the
request was due, not from when it was sent, so a server that falls behind is charged for the queue
it causes (no coordinated omission). "Sent late" is how long after its due time a request left:
every connection was waiting for an answer (the server is behind), or the generator's own threads
were late, which on a 2-core machine shared with gunicorn and PostgreSQL is part of the figure. A
keep-alive connection the server closed is reopened and the request sent again once, as browsers
do; the retry is inside the latency. Each phase starts with a warm-up that is not counted.

a. `GET /api/v1/verify/<code>` at `--rate` requests/s (default 200) for `--seconds` (default 30), after
   a 2-second warm-up at the same rate: 90% of the codes are drawn at random from the issued letters
   (answer 200, `valid` true, the same code), 10% are well-formed codes never issued (answer 404).
   Printed: p50/p90/p99/max latency, errors (any other status, body or connection failure), achieved
   rate. Goal: p99 <= 20 ms.
b. `POST /api/v1/paper-filing-requests`, `--requests` requests (default 100) at `--paper-rate` per
   second (default 5) over `--paper-connections` connections (default 8: employers are independent
   clients whose requests may overlap; 1: one request at a time), after a warm-up in which requests
   are sent one at a time, each on a new connection, until every web worker has signed 2 letters (the
   worker that served a request is the one whose CPU time grew; the first letter of a worker imports
   the signing library and loads the fonts): an employer's request whose `attempted_at` lies in
   the recorded outage, which the paper-filing authorisation covers, so each one creates, renders,
   signs and stores a letter before answering 201 with its code. Printed: p50/p95/p99/max. Goal: p95
   <= 200 ms.
c. Both at once for `--seconds`: verification at `--rate` while employers' requests arrive at
   `--paper-rate`. A letter is rendered and signed on the web worker's event loop, so it shows here.

Every answer is checked (a single wrong one fails the run), as are afterwards: one issued letter with
a unique code per employer request, a sample of them genuine, the access log's count of each kind
of request, and the limiter's counters present in Redis. CPU per request is utime + stime of the
gunicorn workers and of the database's PostgreSQL backends (/proc/<pid>/stat), and of this process
(the generator), over each measured phase. gunicorn is stopped with SIGTERM at the end; the run fails
if any of its processes is left.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import redis
from sqlalchemy import select, text

from bench.letters import (
    ROOT,
    SEED,
    check_issued,
    is_postgres,
    issue_all,
    prepare,
    process_cpu_seconds,
    report,
    validate_sample,
)
from bench.relief import (
    CONFIG,
    OUTAGE_COMPONENT,
    WINDOW_END,
    WINDOW_START,
    BenchFailed,
    count,
    fresh_database,
    print_machine,
)
from exemptions.letters import new_code
from monitor.config import Config, parse_config
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import transaction
from monitor.storage.enums import LetterKind, LetterState
from monitor.storage.models import Letter

GUNICORN = Path(sys.executable).parent / "gunicorn"
GUNICORN_CONF = ROOT / "monitor" / "web" / "gunicorn_conf.py"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
RAISED_LIMIT = "100000/minute"
UNKNOWN_SHARE = 0.10
WARMUP_SECONDS = 2.0
GOAL_VERIFY_P99_MS = 20.0
GOAL_PAPER_P95_MS = 200.0
SAMPLED = 3
WARM_LETTERS = 2  # letters each web worker signs before the employer requests are measured


def redis_url() -> str:
    return os.environ.get("PORTALWATCH_BENCH_REDIS", DEFAULT_REDIS_URL)


def config_text(page_id: str) -> str:
    """bench.imports' configuration with this run's page id (the limiter's key prefix) and raised limits."""
    raised = f'self_service: {{rate_limit: "{RAISED_LIMIT}", verify_rate_limit: "{RAISED_LIMIT}"}}\n'
    return CONFIG.replace("page: {", f"page: {{id: {page_id}, ", 1) + raised


# --- the load generator ----------------------------------------------------------------------------

Check = Callable[[int, bytes], str | None]  # (status, body) → None when right, else what is wrong


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None
    check: Check


@dataclass(frozen=True)
class Sample:
    scheduled: float
    sent: float
    done: float
    status: int
    problem: str | None
    retried: bool

    @property
    def latency_ms(self) -> float:
        return 1000 * (self.done - self.scheduled)

    @property
    def lag_ms(self) -> float:
        return 1000 * (self.sent - self.scheduled)


def open_loop(port: int, rate: float, total: int, make: Callable[[int], Request], connections: int) -> list[Sample]:
    """`total` requests, request i due at start + i / rate, sent by `connections` threads; one Sample each."""
    slots = itertools.count()
    samples: list[Sample | None] = [None] * total
    start = time.perf_counter() + 0.2

    def send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, bytes, bool]:
        headers = {"Content-Type": "application/json"} if request.body is not None else {}
        conn.request(request.method, request.path, body=request.body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.will_close

    def run() -> None:
        conn: http.client.HTTPConnection | None = None
        used = False
        try:
            while (i := next(slots)) < total:
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                request = make(i)
                sent = time.perf_counter()
                status, problem, retried = 0, None, False
                while True:
                    if conn is None:
                        conn, used = http.client.HTTPConnection("127.0.0.1", port, timeout=60), False
                    try:
                        status, body, closing = send(conn, request)
                    except (http.client.HTTPException, OSError) as exc:
                        conn.close()
                        conn, stale = None, used
                        if stale and not retried:  # the server closed an idle keep-alive connection
                            retried = True
                            continue
                        problem = f"{type(exc).__name__}: {exc}"
                        break
                    used = True
                    problem = request.check(status, body)
                    if closing:
                        conn.close()
                        conn = None
                    break
                samples[i] = Sample(scheduled, sent, time.perf_counter(), status, problem, retried)
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(min(connections, total))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=total / rate + 120)
    missing = sum(s is None for s in samples)
    if missing:
        raise BenchFailed(f"{missing} of {total} requests never completed")
    return [s for s in samples if s is not None]


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Cpu:
    """CPU seconds of the web workers, the database's backends and this process, over one phase."""

    web: float = 0.0
    postgres: float = 0.0
    generator: float = 0.0


@dataclass
class Phase:
    name: str
    planned_rate: float
    samples: list[Sample]
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def latencies(self) -> list[float]:
        return [s.latency_ms for s in self.samples]

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.samples if s.problem is not None]

    @property
    def achieved_rate(self) -> float:
        span = max(s.done for s in self.samples) - min(s.scheduled for s in self.samples)
        return len(self.samples) / span if span > 0 else float("inf")

    def line(self, points: tuple[float, ...]) -> str:
        lat = self.latencies
        figures = ", ".join(f"p{p:g} {percentile(lat, p):.1f}" for p in points)
        lag = [s.lag_ms for s in self.samples]
        retried = sum(s.retried for s in self.samples)
        n = len(self.samples)
        return (
            f"{self.name}: {n:,} requests, latency ms {figures}, max {max(lat):.1f}; {len(self.errors)} errors; "
            f"{self.achieved_rate:.1f}/s achieved of {self.planned_rate:g}/s planned; sent late p99 "
            f"{percentile(lag, 99):.1f} ms; {retried} resent on a new connection\n"
            f"    CPU per request: web workers {1000 * self.cpu.web / n:.2f} ms, PostgreSQL backends "
            f"{1000 * self.cpu.postgres / n:.2f} ms, load generator {1000 * self.cpu.generator / n:.2f} ms"
        )


# --- what is asked, and what the answers must be ------------------------------------------------------


def verify_requests(codes: list[str], seed: int) -> Callable[[int], Request]:
    rng = random.Random(seed)
    known = set(codes)

    def expect_found(code: str) -> Check:
        def check(status: int, body: bytes) -> str | None:
            if status != 200:
                return f"{code}: status {status}, expected 200"
            answer = json.loads(body)
            if answer.get("valid") is not True or answer.get("code") != code:
                return f"{code}: answered {answer.get('valid')!r} for code {answer.get('code')!r}"
            return None

        return check

    def expect_missing(code: str) -> Check:
        def check(status: int, body: bytes) -> str | None:
            if status != 404 or json.loads(body).get("valid") is not False:
                return f"unknown code {code}: status {status}, expected 404 with valid false"
            return None

        return check

    def make(_i: int) -> Request:
        if rng.random() < UNKNOWN_SHARE:
            code = new_code()
            while code in known:
                code = new_code()
            return Request("GET", f"/api/v1/verify/{code}", None, expect_missing(code))
        code = rng.choice(codes)
        return Request("GET", f"/api/v1/verify/{code}", None, expect_found(code))

    return make


def paper_requests(prefix: str) -> tuple[Callable[[int], Request], list[str]]:
    """Employers' requests for times inside the outage; the codes of the letters they got, as they come."""
    codes: list[str] = []
    lock = threading.Lock()
    inside = int((WINDOW_END - WINDOW_START).total_seconds()) - 3600

    def check(status: int, body: bytes) -> str | None:
        if status != 201:
            return f"status {status}, expected 201: {body[:300]!r}"
        answer = json.loads(body)
        letter = answer.get("letter") or {}
        if answer.get("covered") is not True or letter.get("kind") != LetterKind.PAPER_FILING.value:
            return f"not covered by a paper-filing letter: {answer}"
        if not letter.get("code"):
            return f"no letter code in {answer}"
        with lock:
            codes.append(letter["code"])
        return None

    def make(i: int) -> Request:
        attempted = WINDOW_START + timedelta(minutes=30, seconds=(i * 97) % inside)
        body = {
            "component": OUTAGE_COMPONENT,
            "attempted_at": attempted.isoformat(),
            "organisation": f"{prefix} employer {i}",
            "email": f"hr{i}@example.test",
            "language": "fr" if i % 2 else "en",
        }
        return Request("POST", "/api/v1/paper-filing-requests", json.dumps(body).encode(), check)

    return make, codes


# --- gunicorn ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    workers: list[int] = field(default_factory=list)


@contextmanager
def gunicorn(env: dict[str, str], directory: Path) -> Iterator[Server]:
    """The shipped gunicorn configuration serving monitor.wsgi:app; stopped (SIGTERM) and checked gone."""
    port = free_port()
    log = directory / "gunicorn.log"
    command = [str(GUNICORN), "-c", str(GUNICORN_CONF), "monitor.wsgi:app"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=directory,
            env={**env, "PORTALWATCH_WEB_BIND": f"127.0.0.1:{port}"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(port, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/status.json", timeout=5):
                    break
            except (OSError, urllib.error.HTTPError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise BenchFailed(f"gunicorn did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield server
    except BaseException:
        errors = [line for line in log.read_text(errors="replace").splitlines() if '" 2' not in line]
        print("gunicorn's log, after its successful requests:\n" + "\n".join(errors[-60:]), file=sys.stderr)
        raise
    finally:
        workers = children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        left = [pid for pid in workers if process_cpu_seconds(pid) is not None]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        if left:
            raise BenchFailed(f"gunicorn workers {left} were still running after the master stopped")


# --- CPU of the server's processes -----------------------------------------------------------------


class CpuMeter:
    """CPU seconds of the gunicorn workers, of this database's PostgreSQL backends and of this process."""

    def __init__(self, runtime: Runtime, server: Server) -> None:
        self.runtime = runtime
        self.server = server

    def backends(self) -> list[int]:
        with self.runtime.engine.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            ).scalars()
            return [int(pid) for pid in pids if is_postgres(int(pid))]

    def read(self) -> dict[str, dict[int, float]]:
        self.server.workers = children_of(self.server.process.pid)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        groups = {"web": self.server.workers, "postgres": self.backends()}
        read = {name: {pid: process_cpu_seconds(pid) for pid in pids} for name, pids in groups.items()}
        found = {name: {pid: s for pid, s in seconds.items() if s is not None} for name, seconds in read.items()}
        found["generator"] = {0: usage.ru_utime + usage.ru_stime}
        return found

    @staticmethod
    def spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> Cpu:
        # A process that started during the phase spent all its CPU in it.
        def total(name: str) -> float:
            return sum(s - before[name].get(pid, 0.0) for pid, s in after[name].items())

        return Cpu(web=total("web"), postgres=total("postgres"), generator=total("generator"))


def measured(
    name: str, meter: CpuMeter, rate: float, runs: list[tuple[float, int, Callable[[int], Request], int]]
) -> list[Phase]:
    """Run the generators (rate, total, make, connections) at once; one Phase each, all with the CPU of the lot."""
    before = meter.read()
    results: list[list[Sample]] = [[] for _ in runs]
    failures: list[BaseException] = []

    def go(index: int, rate: float, total: int, make: Callable[[int], Request], connections: int) -> None:
        try:
            results[index] = open_loop(meter.server.port, rate, total, make, connections)
        except BaseException as exc:  # re-raised below, in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=go, args=(i, *run)) for i, run in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    cpu = CpuMeter.spent(before, meter.read())
    return [Phase(name, run[0], samples, cpu) for run, samples in zip(runs, results, strict=True)]


def warm_every_worker(
    server: Server, make: Callable[[int], Request], *, letters: int = WARM_LETTERS, limit: int = 40
) -> tuple[list[Sample], dict[int, int]]:
    """Requests one at a time, each on a new connection, until every gunicorn worker has served `letters`
    of them (at most `limit`): which worker served one is the one whose CPU time grew the most (a letter
    costs tens of milliseconds of CPU; an idle gevent worker next to nothing)."""
    served = dict.fromkeys(children_of(server.process.pid), 0)
    samples: list[Sample] = []
    while served and min(served.values()) < letters and len(samples) < limit:
        before = {pid: process_cpu_seconds(pid) or 0.0 for pid in served}
        samples += open_loop(server.port, 1.0, 1, make, 1)
        after = {pid: process_cpu_seconds(pid) or 0.0 for pid in served}
        served[max(served, key=lambda pid: after[pid] - before[pid])] += 1
    return samples, served


def wrong_answers(phase: Phase) -> list[str]:
    if not phase.errors:
        return []
    shown = "; ".join(str(s.problem)[:300] for s in phase.errors[:3])
    return [f"{phase.name}: {len(phase.errors)} of {len(phase.samples)} answers were wrong, e.g. {shown}"]


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Args:
    seconds: float
    rate: float
    requests: int
    paper_rate: float
    paper_connections: int
    cases: int
    connections: int


def check_paper_letters(runtime: Runtime, codes: list[str], requested: int) -> tuple[int, list[str]]:
    """Each employer request recorded with its letter; each 201 answer's code an issued letter of its own,
    and a sample of them genuine: (sampled, problems). A letter left pending is a problem."""
    with transaction(runtime.sessions) as session:
        rows = session.execute(
            select(Letter.id, Letter.code, Letter.state, Letter.kind).where(Letter.request_id.is_not(None))
        ).all()
    issued = {code: letter_id for letter_id, code, state, kind in rows if state == LetterState.ISSUED}
    kinds = {kind for *_, kind in rows}
    problems = []
    if len(rows) != requested or kinds - {LetterKind.PAPER_FILING}:
        problems.append(f"{len(rows)} request letters of kinds {sorted(kinds)} for {requested} requests")
    if len(rows) != len(issued):
        problems.append(f"{len(rows) - len(issued)} request letters were left pending (their request failed)")
    if len(set(codes)) != len(codes) or set(codes) - set(issued):
        problems.append("the codes the answers gave are not each an issued request letter of their own")
    if len(codes) != len(issued):
        problems.append(f"{len(issued)} request letters were issued but {len(codes)} answers gave a code")
    picked = random.Random(SEED).sample(sorted(issued[c] for c in codes if c in issued), min(SAMPLED, len(codes)))
    return validate_sample(runtime, picked), problems


def access_log_counts(log: Path) -> dict[str, int]:
    counts = {"verify": 0, "paper": 0}
    for line in log.read_text(errors="replace").splitlines():
        if '"GET /api/v1/verify/' in line:
            counts["verify"] += 1
        elif '"POST /api/v1/paper-filing-requests' in line:
            counts["paper"] += 1
    return counts


def limiter_keys(client: redis.Redis, page_id: str) -> list[bytes]:
    return list(client.scan_iter(match=f"*{page_id}*", count=1000))


def run(args: Args) -> tuple[list[str], list[str]]:
    """The figures' lines and the problems found (wrong answers, letters left pending)."""
    page_id = f"pw-bench-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(redis_url())
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchFailed(f"Redis is not reachable at {redis_url()} (set PORTALWATCH_BENCH_REDIS): {exc}") from exc
    config: Config = parse_config(config_text(page_id), source="bench-verify.yaml")
    try:
        with fresh_database("postgresql") as url, tempfile.TemporaryDirectory(prefix="pw_bench_verify_") as temp:
            directory = Path(temp)
            (directory / "portalwatch.yaml").write_text(config_text(page_id), encoding="utf-8")
            data_dir = directory / "data"
            runtime = Runtime.create(Settings.explicit(database_url=url, data_dir=str(data_dir)), config)
            try:
                progress(f"preparing {args.cases} cases and their letters…")
                prepared = prepare(runtime, args.cases)
                issued = issue_all(runtime)
                check_issued(runtime, prepared.letters, issued)
                with transaction(runtime.sessions) as session:
                    codes = [code for code in session.scalars(select(Letter.code)) if code is not None]
                env = {
                    "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                    "DATABASE_URL": url,
                    "REDIS_URL": redis_url(),
                    "PORTALWATCH_CONFIG": str(directory / "portalwatch.yaml"),
                    "PORTALWATCH_DATA_DIR": str(data_dir),
                }
                progress(f"{len(codes)} letters issued; starting gunicorn…")
                with gunicorn(env, directory) as server:
                    return serve_and_measure(args, runtime, server, codes, client, page_id)
            finally:
                runtime.close()
    finally:
        for key in limiter_keys(client, page_id):
            client.delete(key)
        client.close()


def serve_and_measure(
    args: Args, runtime: Runtime, server: Server, codes: list[str], client: redis.Redis, page_id: str
) -> tuple[list[str], list[str]]:
    meter = CpuMeter(runtime, server)
    verify = verify_requests(codes, SEED)
    total = max(1, round(args.rate * args.seconds))
    problems: list[str] = []

    progress(f"a. verification: warm-up, then {total:,} requests at {args.rate:g}/s…")
    warm = open_loop(server.port, args.rate, max(1, round(args.rate * WARMUP_SECONDS)), verify, args.connections)
    problems += wrong_answers(Phase("verification warm-up", args.rate, warm))
    (a,) = measured("a. GET /api/v1/verify/<code>", meter, args.rate, [(args.rate, total, verify, args.connections)])
    problems += wrong_answers(a)

    workers = len(children_of(server.process.pid))
    paper, paper_codes = paper_requests("Benchmark")
    progress(f"b. employer requests: warm-up, then {args.requests} at {args.paper_rate:g}/s…")
    cold, served = warm_every_worker(server, paper)
    problems += wrong_answers(Phase("paper-filing warm-up", 0, cold))
    (b,) = measured(
        "b. POST /api/v1/paper-filing-requests",
        meter,
        args.paper_rate,
        [(args.paper_rate, args.requests, paper, args.paper_connections)],
    )
    problems += wrong_answers(b)

    mixed_paper = max(1, round(args.paper_rate * args.seconds))
    progress(f"c. both at once for {args.seconds:g} s…")
    c_verify, c_paper = measured(
        "c. both at once",
        meter,
        args.rate,
        [(args.rate, total, verify, args.connections), (args.paper_rate, mixed_paper, paper, args.paper_connections)],
    )
    c_verify.name, c_paper.name = "c. verification, while employers ask", "c. employer requests, meanwhile"
    problems += wrong_answers(c_verify) + wrong_answers(c_paper)

    requested = len(cold) + args.requests + mixed_paper
    sampled, letter_problems = check_paper_letters(runtime, paper_codes, requested)
    problems += letter_problems
    logged = access_log_counts(server.log)
    verified = len(warm) + 2 * total
    if logged != {"verify": verified, "paper": requested}:
        raise BenchFailed(f"the access log shows {logged}; {verified} verifications and {requested} requests were sent")
    if not limiter_keys(client, page_id):
        raise BenchFailed("no rate-limit counters in Redis: the limiter did not count there")

    goal_a = "met" if percentile(a.latencies, 99) <= GOAL_VERIFY_P99_MS else "MISSED"
    goal_b = "met" if percentile(b.latencies, 95) <= GOAL_PAPER_P95_MS else "MISSED"
    cold_ms = ", ".join(f"{s.latency_ms:.0f}{'' if s.problem is None else ' (wrong)'}" for s in cold)
    sharing = "one at a time" if args.paper_connections == 1 else f"over {args.paper_connections} connections"
    lines = [
        f"server:   gunicorn, shipped configuration ({workers} gevent workers), PostgreSQL, limiter in Redis; "
        f"{len(codes)} issued letters, {UNKNOWN_SHARE:.0%} of codes unknown (404); employer requests {sharing}",
        a.line((50, 90, 99)) + f"\n    goal p99 <= {GOAL_VERIFY_P99_MS:g} ms: {goal_a}",
        b.line((50, 95, 99)) + f"\n    goal p95 <= {GOAL_PAPER_P95_MS:g} ms: {goal_b}",
        f"    warm-up before b, not counted ({len(cold)} requests one at a time, signed per worker "
        f"{sorted(served.values())}): {cold_ms} ms",
        c_verify.line((50, 90, 99)).split("\n")[0],
        c_paper.line((50, 95, 99)).split("\n")[0],
        f"    CPU while both ran: web workers {c_verify.cpu.web:.1f} s, PostgreSQL backends "
        f"{c_verify.cpu.postgres:.1f} s, load generator {c_verify.cpu.generator:.1f} s over {args.seconds:g} s",
    ]
    if not problems:
        lines.append(
            f"checked:  every answer as expected; {requested} request letters issued once each with the code "
            f"answered, {sampled} sampled PDFs genuine; access log counts match; limiter counters in Redis"
        )
    return lines, problems


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.verify_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=positive, default=30.0, help="seconds of verification load (default 30)")
    parser.add_argument("--rate", type=positive, default=200.0, help="verification requests per second (200)")
    parser.add_argument("--requests", type=count, default=100, help="employer requests measured (default 100)")
    parser.add_argument("--paper-rate", type=positive, default=5.0, help="employer requests per second (5)")
    parser.add_argument(
        "--paper-connections", type=count, default=8, help="connections employers' requests share (8; 1: one at a time)"
    )
    parser.add_argument("--cases", type=count, default=100, help="cases, each issued 2 letters (default 100)")
    parser.add_argument("--connections", type=count, default=32, help="verification connections (default 32)")
    parsed = parser.parse_args(sys.argv[1:] if argv is None else argv)
    args = Args(
        parsed.seconds,
        parsed.rate,
        parsed.requests,
        parsed.paper_rate,
        parsed.paper_connections,
        parsed.cases,
        parsed.connections,
    )
    return report(lambda: print_machine(["postgresql"]), lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
