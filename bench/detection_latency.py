"""How soon an outage, and its end, is recorded, posted to Slack and shown on summary.json, by the running service.

Run it from the repository root:

    .venv/bin/python -m bench.detection_latency [--trials 10] [--mode embedded|distributed] [--interval 1s]
        [--locations 1]

Setup (not timed). In this process: a target HTTP server on a free port of 127.0.0.1 (a thread;
HTTP/1.1, keep-alive, TCP_NODELAY as a real server sets it), answering every GET with 200 and a page
containing "Sign in", or, once switched, with 503, and noting each request's location (the
`location=<name>` of PortalWatch's User-Agent); a Slack stand-in speaking chat.postMessage,
chat.update and conversations.history, which notes each call's arrival (time.perf_counter when its body
has been read) and the outage it is about ("Outage #<id>" in the message's blocks). PortalWatch runs as
its real processes, each started with `python -m monitor ...` in a session of its own, its output to a
log file:
- embedded (default): `serve --config <file> --port <free>`, on a SQLite file in a temporary directory;
- distributed: a brand-new PostgreSQL database (bench.relief's, through PORTALWATCH_BENCH_PG), Redis db
  10 (PORTALWATCH_BENCH_REDIS; flushed before and after the run), `serve` (REDIS_URL set: the web only),
  then `worker --pool threads` (the probe queue and the default queue) and `scheduler`.
The configuration: one component, one http probe of the target (expect 200 and "Sign in"), interval
`--interval` (default 1s), timeout 1s, failure_threshold 2, recovery_threshold 2; `merge_gap: 0s`, so
each trial's failure opens an outage of its own instead of reopening the previous trial's (the default,
10m, would merge them all into the first); Slack (SLACK_API_URL, SLACK_BOT_TOKEN, SLACK_CHANNEL) pointed
at the stand-in, and a random ops token.

Locations (`--locations N`, default 1). With 1, `locations: [local]`, as above. With N > 1,
`locations: [loc-1, ..., loc-N]` (no control URLs: none is ever blind) and `quorum: majority`, so the
outage needs N // 2 + 1 locations to see the target failing (2 of 3); the bench reads the quorum back
from `GET /api/ops/components` before the first trial. Distributed, one worker per location:
`worker --pool threads --locations loc-1` (its probe queue and the default queue), then
`worker --pool threads --locations loc-i --probes-only` for the others. Embedded, `serve` runs every
location's checks itself: its scheduler sends each location's batches to `probes.<location>` and its
in-process dispatcher runs every probe queue on its check pool. The target is shared: every location
sees each switch.

Each trial:
1. Settle: the target has answered only 200 for at least max(2.5 intervals, 2.5 s) and at least 3
   probes since its last 503, the ops API lists no open outage and summary.json shows the component
   operational.
2. summary.json is polled from now on: a poll starts every 15 ms (or as soon as the previous answer is
   in, if it took longer), on one keep-alive connection, each request with `Cache-Control: no-cache`
   and a query string of its own, and nothing caches in between (http.client). The bench waits a random
   fraction of an interval (uniform, `--seed`), so the switch lands at a random phase of the slot grid,
   then switches the target to 503 under the lock its handler reads the state with: T0 (time.time() and
   perf_counter). Every probe request arriving later gets 503.
3. "record": the outage's `detected_at` - T0. detected_at is the clock reading (same machine, same
   clock as time.time()) the recording transaction takes as it starts folding the check that confirmed
   the outage, before its statements run and it commits; it is read afterwards from
   `GET /api/ops/outages/<id>`, the outage being the one the Slack post names.
   "Slack": arrival at the stand-in of the first chat.postMessage naming an outage - T0.
   "summary": arrival of the first poll answer showing the component not `operational` - T0 (the answer
   was computed at most one poll period plus one request earlier).
   "slot wait" (column slot): the first probe request at the target after T0 - T0; "2nd probe" (2nd-pr):
   the request that decided it - the first. With one location that is the request after the first (the
   confirmation check, when PortalWatch confirms at once); with several, each location's streak reaches
   the threshold at its own 2nd request after T0, and the deciding request is the quorum-th earliest of
   those (for the recovery, the (N - quorum + 1)-th: the one that takes the locations still failing
   below the quorum, all of them being down by then: every location confirms a first failure at once).
   "record after 2nd probe" (2nd-rec): record - slot wait - 2nd probe, i.e. from the request that
   decided it reaching the target to detected_at: the probe's answer, the check's hand-off and the start
   of its recording. Requests are ordered by arrival at the target; with several locations a location's
   checks may be recorded in another order than their requests arrived, so 2nd-rec can come out a few
   tens of ms below zero. The phase ends when the Slack post and the summary change have both been seen
   (or fails after 5 intervals + 10 s).
4. After another random fraction of an interval, the target is switched back to 200: T1. The same
   figures for the recovery: "record" is the outage's `resolved_at` - T1 (written by the transaction
   that closes it, as above); "Slack" is the first chat.update of that outage's message whose text
   says "Resolved" - T1 (PortalWatch edits the outage's one message on resolution; it posts no reply);
   "summary" is the first poll answer showing the component `operational` again - T1.
"Slack - record" and "summary - record" are the same arrivals measured from detected_at (resp.
resolved_at) instead of the switch: what announcing and showing cost once the outage is recorded,
including the recording transaction's own statements and commit.

Printed: a row per trial and phase, then the median (statistics.median), p90 (nearest rank) and max of
each figure over the trials, and the goals: median record <= 0.75 s for the outage and for the recovery
(2 successes confirm it), Slack and summary.json median <= 0.25 s after recording. With several
locations the goals are the quorum issue's, for the outage only: median record <= 0.75 s, Slack and
summary.json median <= 0.25 s after recording; the recovery's figures are printed without a goal. A
missed goal is printed, not a failure. The 1-minute load average before and after the run is printed:
the machine has 2 cores and the service, its database and this bench share them.

Self-checks, any of which fails the run (exit 1): every trial produced exactly one outage, with
detected_at after T0 and before T1 and resolved_at after T1, the same one the Slack post named, and
the service recorded no other; every location's requests reached the target after every switch; the
component's quorum was the one expected; each outage was posted once and its message updated to
"Resolved"; every Slack call carried the configured token; before each switch summary.json showed the
state before it; every summary.json answer was computed for its request (its page.updated_at later than
the previous answer's): no cache inside the server; no ERROR, CRITICAL or Traceback line in any
PortalWatch log; every PortalWatch process exited 0 on SIGTERM, and nothing of their process groups
was left running.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import itertools
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs

import redis

from bench.letters import report
from bench.relief import BenchFailed, count, fresh_database, print_machine
from bench.verify_load import free_port, percentile
from probes.duration import parse_duration

ROOT = Path(__file__).resolve().parent.parent
MODES = ("embedded", "distributed")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
COMPONENT = "bench-portal"
PROBE = "bench-portal-home"
TIMEOUT = "1s"
SEED = 20261126
POLL_EVERY = 0.015  # seconds between the starts of two summary.json polls
SETTLE_HITS = 3
SETTLE_INTERVALS = 2.5
SETTLE_MIN_SECONDS = 2.5
START_SECONDS = 60.0
STOP_SECONDS = 30.0
GOAL_RECORD_S = 0.75
GOAL_AFTER_RECORD_S = 0.25
UP_PAGE = b"<!doctype html><html><body><h1>Bench portal</h1><a href='/login'>Sign in</a></body></html>"
DOWN_PAGE = b"Service Unavailable"
LOG_PROBLEM = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")
OUTAGE_NAMED = re.compile(r"Outage #(\d+)")
LOCATION_IN_AGENT = re.compile(r"location=([^);\s]+)")
THRESHOLD = 2  # failure_threshold and recovery_threshold


def redis_url() -> str:
    return os.environ.get("PORTALWATCH_BENCH_REDIS", DEFAULT_REDIS_URL)


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def interval_arg(value: str) -> timedelta:
    try:
        interval = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if interval < timedelta(milliseconds=100):
        raise argparse.ArgumentTypeError(f"expected an interval of at least 100ms, got {value!r}")
    return interval


# --- the target: a portal switched between up and down ----------------------------------------------


@dataclass(frozen=True)
class Switch:
    wall: float  # time.time()
    perf: float  # time.perf_counter()


@dataclass(frozen=True)
class Hit:
    perf: float
    ok: bool
    location: str | None  # from the request's User-Agent


class LoopbackServer:
    """An HTTP server on 127.0.0.1, on a thread of this process, served while inside `with`."""

    path = "/"

    def _serve(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class Target(LoopbackServer):
    """A portal page on 127.0.0.1 that answers 200 "Sign in", or 503 once switched; notes every request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failing = False
        self.hits: list[Hit] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the probes' connection pool reuses its connection
            # TCP_NODELAY, as a real portal's server sets: without it the body, written after the headers,
            # waits for the client's delayed ACK (40 ms on Linux) whenever a request follows closely on
            # the previous one on the same connection, as a confirmation check does.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                named = LOCATION_IN_AGENT.search(self.headers.get("User-Agent") or "")
                with target.lock:  # the same lock as switch(): a request is answered wholly before or after
                    failing = target.failing
                    target.hits.append(Hit(time.perf_counter(), not failing, named.group(1) if named else None))
                status, body = (503, DOWN_PAGE) if failing else (200, UP_PAGE)
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler, "bench-target")

    def switch(self, *, failing: bool) -> Switch:
        with self.lock:
            self.failing = failing
            return Switch(time.time(), time.perf_counter())

    def hits_after(self, perf: float) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.perf > perf]

    def settled(self, settle_seconds: float) -> bool:
        """Only 200s for `settle_seconds` and at least SETTLE_HITS requests since the last 503."""
        with self.lock:
            if self.failing:
                return False
            hits = list(self.hits)
        last_failure = max((h.perf for h in hits if not h.ok), default=float("-inf"))
        since = [h for h in hits if h.perf > last_failure]
        return len(since) >= SETTLE_HITS and time.perf_counter() - since[0].perf >= settle_seconds


# --- the Slack stand-in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackCall:
    method: str
    perf: float
    outage_id: int | None
    ts: str | None
    text: str
    auth: str | None


class SlackStandIn(LoopbackServer):
    """Enough of Slack's Web API for PortalWatch's Slack channel; notes when each call arrived."""

    path = "/api/"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[SlackCall] = []
        self.messages: list[dict[str, Any]] = []
        counter = iter(range(1, 1_000_000))
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # as the target's: no delayed-ACK stall of our own

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                arrived = time.perf_counter()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body: dict[str, Any] = json.loads(raw or "{}")
                else:
                    body = {key: values[-1] for key, values in parse_qs(raw).items()}
                method, _, query = self.path.rsplit("/", 1)[-1].partition("?")
                body.update({key: values[-1] for key, values in parse_qs(query).items()})
                named = OUTAGE_NAMED.search(json.dumps(body.get("blocks") or body.get("text") or ""))
                ts: str | None = str(body["ts"]) if "ts" in body else None
                payload: dict[str, Any] = {"ok": True, "channel": "C0BENCH"}
                with stand_in.lock:
                    if method == "chat.postMessage":
                        ts = f"1700000000.{next(counter):06d}"
                        stand_in.messages.append({"ts": ts, "text": body.get("text"), "metadata": body.get("metadata")})
                    elif method == "conversations.history":
                        payload["messages"] = list(reversed(stand_in.messages))
                        payload["has_more"] = False
                    stand_in.calls.append(
                        SlackCall(
                            method,
                            arrived,
                            int(named.group(1)) if named else None,
                            ts,
                            str(body.get("text") or ""),
                            self.headers.get("Authorization"),
                        )
                    )
                if ts is not None:
                    payload["ts"] = ts
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._serve(Handler, "bench-slack")

    def snapshot(self) -> list[SlackCall]:
        with self.lock:
            return list(self.calls)

    def first(self, after: float, wanted: Callable[[SlackCall], bool]) -> SlackCall | None:
        return next((c for c in self.snapshot() if c.perf > after and wanted(c)), None)


# --- summary.json, polled ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    sent: float
    received: float
    received_wall: float
    status: str | None  # the component's status, or None if the poll failed
    updated_at: datetime | None
    cache_control: str | None
    error: str | None = None


class SummaryPoller:
    """Polls GET /api/v2/summary.json every POLL_EVERY s on a keep-alive connection, bypassing any cache."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-summary-poller", daemon=True)
        self.requests = 0

    def __enter__(self) -> SummaryPoller:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Accept": "application/json"}
        next_at = time.perf_counter()
        try:
            while not self.stop.is_set():
                self.requests += 1
                sent = time.perf_counter()
                try:
                    conn.request("GET", f"/api/v2/summary.json?bench={os.getpid()}-{self.requests}", headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                    received, wall = time.perf_counter(), time.time()
                    if response.status != 200:
                        raise ValueError(f"HTTP {response.status}: {body[:200]!r}")
                    doc = json.loads(body)
                    status = next((c["status"] for c in doc["components"] if c["id"] == COMPONENT), None)
                    updated = datetime.fromisoformat(doc["page"]["updated_at"])
                    seen = Seen(sent, received, wall, status, updated, response.getheader("Cache-Control"))
                except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:
                    conn.close()  # reopened by the next request
                    received, wall = time.perf_counter(), time.time()
                    seen = Seen(sent, received, wall, None, None, None, f"{type(exc).__name__}: {exc}")
                with self.lock:
                    self.seen.append(seen)
                next_at = max(next_at + POLL_EVERY, time.perf_counter())
                self.stop.wait(max(next_at - time.perf_counter(), 0.0))
        finally:
            conn.close()

    def snapshot(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)

    def wait_first(self, timeout: float = 10.0) -> None:
        """Until the first answer is in: the state before the switch is seen by at least one poll."""
        deadline = time.perf_counter() + timeout
        while not self.snapshot():
            if time.perf_counter() > deadline:
                raise BenchFailed(f"summary.json did not answer within {timeout:g} s")
            time.sleep(0.002)

    def first(self, after: float, wanted: Callable[[str | None], bool]) -> Seen | None:
        return next((s for s in self.snapshot() if s.received > after and s.error is None and wanted(s.status)), None)


# --- PortalWatch's processes ----------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    returncode: int | None = None


@dataclass
class PortalWatch:
    """The running service: its processes, its web port and its ops token."""

    mode: str
    port: int
    token: str  # the ops token
    slack_token: str
    processes: list[Process] = field(default_factory=list)
    stop_problems: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # each process's whole log, read once it stopped

    def get(self, path: str, *, ops: bool = False) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Authorization": f"Bearer {self.token}"} if ops else {}
            conn.request("GET", path, headers={**headers, "Cache-Control": "no-cache"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise BenchFailed(f"GET {path} answered {response.status}: {body[:300]!r}")
        return json.loads(body)

    def status(self) -> str | None:
        doc = self.get("/api/v2/summary.json")
        return next((c["status"] for c in doc["components"] if c["id"] == COMPONENT), None)

    def open_outages(self) -> list[dict[str, Any]]:
        return list(self.get("/api/ops/outages?open=1", ops=True)["outages"])

    def outage(self, outage_id: int) -> dict[str, Any]:
        return dict(self.get(f"/api/ops/outages/{outage_id}", ops=True))

    def outages(self) -> list[dict[str, Any]]:
        return list(self.get("/api/ops/outages?limit=1000", ops=True)["outages"])

    def component_state(self) -> dict[str, Any]:
        components = self.get("/api/ops/components", ops=True)["components"]
        found = next((c for c in components if c["id"] == COMPONENT), None)
        if found is None:
            raise BenchFailed(f"GET /api/ops/components does not list {COMPONENT}: {components}")
        return dict(found)

    def check_alive(self) -> None:
        for p in self.processes:
            if p.popen.poll() is not None:
                raise BenchFailed(f"PortalWatch `{p.name}` exited with {p.popen.returncode}:\n{tail(p.log)}")


def tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(name: str, args: list[str], env: dict[str, str], directory: Path) -> Process:
    log = directory / f"{name}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(
            [sys.executable, "-m", "monitor", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped, and checked gone, as a whole
        )
    return Process(name, popen, log)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(process: Process) -> list[str]:
    """SIGTERM to its process group; what went wrong (not exiting 0, anything of the group left)."""
    problems = []
    pgid = process.popen.pid
    if process.popen.poll() is None:
        os.killpg(pgid, signal.SIGTERM)
        try:
            process.popen.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            problems.append(f"`{process.name}` did not stop within {STOP_SECONDS:g} s of SIGTERM; killed")
            os.killpg(pgid, signal.SIGKILL)
            process.popen.wait(timeout=10)
    process.returncode = process.popen.returncode
    if process.returncode != 0:
        problems.append(f"`{process.name}` exited with {process.returncode}:\n{tail(process.log)}")
    deadline = time.monotonic() + 10
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if group_alive(pgid):
        problems.append(f"processes of `{process.name}`'s group {pgid} were left running; killed")
        os.killpg(pgid, signal.SIGKILL)
    return problems


def wait_for_web(service: PortalWatch) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        service.check_alive()
        try:
            service.status()
            return
        except (OSError, BenchFailed, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise BenchFailed(f"PortalWatch's web did not answer within {START_SECONDS:g} s") from None
            time.sleep(0.2)


def location_names(count: int) -> list[str]:
    """The configured locations: today's one `local`, or loc-1..loc-N."""
    return ["local"] if count == 1 else [f"loc-{i}" for i in range(1, count + 1)]


def majority(count: int) -> int:
    """`quorum: majority` of `count` locations, none of them blind: more than half."""
    return count // 2 + 1


def config_text(target_url: str, interval: timedelta, web_port: int, locations: list[str]) -> str:
    seconds = f"{interval.total_seconds():g}s"
    quorum = "quorum: majority\n" if len(locations) > 1 else ""
    return f"""\
page: {{id: bench-latency, name: Detection latency bench, url: "http://127.0.0.1:{web_port}/"}}
locations: [{", ".join(locations)}]
{quorum}merge_gap: 0s
components:
  - id: {COMPONENT}
    name: Bench portal
    probes:
      - {{id: {PROBE}, type: http, url: "{target_url}", interval: {seconds}, timeout: {TIMEOUT},
         failure_threshold: {THRESHOLD}, recovery_threshold: {THRESHOLD}, expect_status: [200],
         body_contains: "Sign in"}}
"""


@contextmanager
def portalwatch(
    mode: str,
    interval: timedelta,
    locations: list[str],
    target: Target,
    slack: SlackStandIn,
    directory: Path,
    database_url: str,
) -> Iterator[PortalWatch]:
    """PortalWatch's real processes for `mode`; on leaving, each stopped with SIGTERM and checked gone."""
    port = free_port()
    config = directory / "portalwatch.yaml"
    config.write_text(config_text(target.url, interval, port, locations), encoding="utf-8")
    token = secrets.token_hex(20)
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TZ")}
    env |= {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "PORTALWATCH_CONFIG": str(config),
        "PORTALWATCH_DATA_DIR": str(directory / "data"),
        "PORTALWATCH_OPS_TOKEN": token,
        "SLACK_BOT_TOKEN": f"xoxb-bench-{secrets.token_hex(8)}",
        "SLACK_CHANNEL": "#bench-outages",
        "SLACK_API_URL": slack.url,
        "SLACK_TIMEOUT": "5",
    }
    service = PortalWatch(mode, port, token, env["SLACK_BOT_TOKEN"])
    if mode == "distributed":
        env["REDIS_URL"] = redis_url()
    try:
        # The web first: it migrates the database and registers the configuration before the others start.
        service.processes.append(
            start("serve", ["serve", "--config", str(config), "--port", str(port)], env, directory)
        )
        wait_for_web(service)
        if mode == "distributed":
            worker_args = ["worker", "--config", str(config), "--pool", "threads", "--loglevel", "WARNING"]
            if len(locations) == 1:  # the location of the settings (`local`): its probe queue and the default one
                service.processes.append(start("worker", worker_args, env, directory))
            else:  # one worker per location; the first also takes the default queue
                for i, location in enumerate(locations):
                    only = ["--probes-only"] if i else []
                    args = [*worker_args, "--locations", location, *only]
                    service.processes.append(start(f"worker-{location}", args, env, directory))
            service.processes.append(start("scheduler", ["scheduler", "--config", str(config)], env, directory))
        yield service
    except BaseException:
        for p in service.processes:
            print(f"----- PortalWatch `{p.name}` log (tail) -----\n{tail(p.log)}", file=sys.stderr)
        raise
    finally:
        # The scheduler first, then the worker, then the web: nothing is sent to a process already gone.
        for p in reversed(service.processes):
            service.stop_problems += stop(p)
        for p in service.processes:
            service.logs[p.name] = p.log.read_text(errors="replace") if p.log.exists() else ""


# --- one trial ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One switch and what followed it; times in seconds after the switch."""

    kind: str  # "outage" or "recovery"
    switch: Switch
    outage_id: int
    record: float
    slack: float
    summary: float
    slot_wait: float | None
    confirm: float | None  # from the first probe request to the one that decided it
    locations_seen: frozenset[str]  # the locations whose requests reached the target after the switch

    @property
    def after_probes(self) -> float | None:
        """From the probe request at the target that decided it to recording."""
        if self.slot_wait is None or self.confirm is None:
            return None
        return self.record - self.slot_wait - self.confirm

    @property
    def slack_after_record(self) -> float:
        return self.slack - self.record

    @property
    def summary_after_record(self) -> float:
        return self.summary - self.record


@dataclass(frozen=True)
class Trial:
    number: int
    outage: Phase
    recovery: Phase


def settle(service: PortalWatch, target: Target, settle_seconds: float) -> None:
    """Wait until the target has answered only 200 for a while, nothing is open and the page says so."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        service.check_alive()
        if target.settled(settle_seconds) and not service.open_outages() and service.status() == "operational":
            return
        if time.monotonic() > deadline:
            hits = target.hits_after(time.perf_counter() - 10)
            raise BenchFailed(
                f"not settled within {START_SECONDS:g} s: open outages {service.open_outages()}, summary "
                f"{service.status()!r}, the target's last 10 s: {[h.ok for h in hits]}"
            )
        time.sleep(0.1)


def deciding_hit(hits: list[Hit], *, failing: bool, locations: int, quorum: int) -> Hit | None:
    """The request after a switch that decided it: each location's streak reaches the threshold at its
    THRESHOLD-th request after the switch; the outage needs `quorum` locations down, the recovery
    `locations - quorum + 1` up (the locations still failing fall below the quorum). With one location:
    its second request."""
    by_location: dict[str | None, list[Hit]] = {}
    for hit in hits:
        by_location.setdefault(hit.location, []).append(hit)
    reached = sorted(
        (own[THRESHOLD - 1] for own in by_location.values() if len(own) >= THRESHOLD), key=lambda h: h.perf
    )
    needed = quorum if failing else locations - quorum + 1
    return reached[needed - 1] if len(reached) >= needed else None


def phase(
    kind: str,
    service: PortalWatch,
    target: Target,
    slack: SlackStandIn,
    rng: random.Random,
    interval: float,
    outage_id: int | None,
    summary_polls: list[Seen],
    locations: int,
) -> Phase:
    failing = kind == "outage"
    before, after = ("operational", "not operational") if failing else ("not operational", "operational")

    def shows_new(status: str | None) -> bool:
        return (status != "operational") if failing else (status == "operational")

    def slack_wanted(call: SlackCall) -> bool:
        if failing:
            return call.method == "chat.postMessage" and call.outage_id is not None
        return call.method == "chat.update" and call.outage_id == outage_id and call.text.startswith("Resolved")

    timeout = 5 * interval + 10
    with SummaryPoller(service.port) as poller:
        poller.wait_first()
        time.sleep(rng.uniform(0, interval))
        switch = target.switch(failing=failing)
        slack_call: SlackCall | None = None
        seen: Seen | None = None
        while slack_call is None or seen is None:
            slack_call = slack_call or slack.first(switch.perf, slack_wanted)
            seen = seen or poller.first(switch.perf, shows_new)
            if time.perf_counter() - switch.perf > timeout:
                last = poller.snapshot()[-1:]
                probes = [(round(h.perf - switch.perf, 3), h.ok) for h in target.hits_after(switch.perf)]
                raise BenchFailed(
                    f"{kind}: {timeout:g} s after the switch, Slack call seen: {slack_call}, summary.json "
                    f"{'showed' if seen else 'never showed'} {after} (last poll: {last}); probes at the target "
                    f"(s after the switch, ok): {probes}; open outages: {service.open_outages()}"
                )
            time.sleep(0.005)
    assert slack_call is not None and seen is not None
    polls = poller.snapshot()
    summary_polls.extend(polls)
    shown_before = [s for s in polls if s.received < switch.perf and s.error is None]
    if not shown_before or any(shows_new(s.status) for s in shown_before):
        raise BenchFailed(f"{kind}: summary.json did not show the component {before} before the switch: {shown_before}")
    failed_polls = [s for s in polls if s.error is not None]
    if failed_polls:
        raise BenchFailed(f"{kind}: {len(failed_polls)} summary.json polls failed, the first: {failed_polls[0].error}")
    if failing:
        assert slack_call.outage_id is not None
        outage_id = slack_call.outage_id
    assert outage_id is not None
    row = service.outage(outage_id)
    recorded_at = datetime.fromisoformat(row["detected_at"] if failing else row["resolved_at"])
    hits = target.hits_after(switch.perf)
    decided = deciding_hit(hits, failing=failing, locations=locations, quorum=majority(locations))
    return Phase(
        kind,
        switch,
        outage_id,
        record=recorded_at.timestamp() - switch.wall,
        slack=slack_call.perf - switch.perf,
        summary=seen.received - switch.perf,
        slot_wait=hits[0].perf - switch.perf if hits else None,
        confirm=decided.perf - hits[0].perf if decided is not None else None,
        locations_seen=frozenset(h.location for h in hits if h.location is not None),
    )


# --- the checks -----------------------------------------------------------------------------------------


def check_outages(service: PortalWatch, trials: list[Trial], slack: SlackStandIn) -> list[str]:
    problems = []
    rows = service.outages()
    by_id = {row["id"]: row for row in rows}
    for i, trial in enumerate(trials):
        t0, t1 = trial.outage.switch.wall, trial.recovery.switch.wall
        next_t0 = trials[i + 1].outage.switch.wall if i + 1 < len(trials) else time.time()
        opened = [r for r in rows if t0 < datetime.fromisoformat(r["detected_at"]).timestamp() < t1]
        if [r["id"] for r in opened] != [trial.outage.outage_id]:
            problems.append(
                f"trial {trial.number}: outages {[r['id'] for r in opened]} were opened between its switches; "
                f"expected exactly #{trial.outage.outage_id}, the one posted to Slack"
            )
            continue
        row = by_id[trial.outage.outage_id]
        resolved = row["resolved_at"] and datetime.fromisoformat(row["resolved_at"]).timestamp()
        if not resolved or not t1 < resolved < next_t0:
            problems.append(f"trial {trial.number}: outage #{row['id']} resolved at {row['resolved_at']}, not after T1")
    if len(rows) != len(trials):
        problems.append(f"the service recorded {len(rows)} outages for {len(trials)} trials: {sorted(by_id)}")
    calls = slack.snapshot()
    for trial in trials:
        posts = [c for c in calls if c.method == "chat.postMessage" and c.outage_id == trial.outage.outage_id]
        if len(posts) != 1:
            problems.append(f"trial {trial.number}: outage #{trial.outage.outage_id} was posted {len(posts)} times")
    wrong_auth = [c for c in calls if c.auth != f"Bearer {service.slack_token}"]
    if wrong_auth:
        problems.append(f"{len(wrong_auth)} Slack calls did not carry the configured token")
    return problems


def check_locations(trials: list[Trial], locations: list[str]) -> list[str]:
    """Every location probed the shared target after every switch: each one's checks ran."""
    problems = []
    for trial in trials:
        for p in (trial.outage, trial.recovery):
            missing = sorted(set(locations) - p.locations_seen)
            if missing:
                problems.append(f"trial {trial.number} {p.kind}: no request from {missing} reached the target")
    return problems


def check_quorum(service: PortalWatch, locations: list[str]) -> None:
    """The component takes the quorum the bench expects (majority of the locations, none blind)."""
    state = service.component_state()
    seen = sorted(loc["name"] for loc in state.get("locations", []) if loc.get("sight") == "seeing")
    if state.get("quorum") != majority(len(locations)) or seen != sorted(locations):
        raise BenchFailed(
            f"expected quorum {majority(len(locations))} of the seeing locations {sorted(locations)}; "
            f"the service reports quorum {state.get('quorum')!r} ({state.get('quorum_setting')!r}) "
            f"and seeing locations {seen}"
        )


def check_summary_polls(polls: list[Seen]) -> tuple[list[str], str]:
    """No answer repeated an earlier one's page.updated_at (no cache inside the server); the line describing it."""
    problems = []
    stale = sum(
        1
        for a, b in itertools.pairwise(polls)
        if a.updated_at is not None and b.updated_at is not None and b.updated_at <= a.updated_at
    )
    if stale:
        problems.append(f"{stale} of {len(polls)} summary.json answers repeated an earlier one: cached in the server")
    ages = [1000 * (s.received_wall - s.updated_at.timestamp()) for s in polls if s.updated_at is not None]
    took = [1000 * (s.received - s.sent) for s in polls if s.error is None]
    headers = sorted({s.cache_control or "-" for s in polls if s.error is None})
    line = (
        f"summary.json: {len(polls)} polls (every {1000 * POLL_EVERY:g} ms during each phase), each answer computed "
        f"for its request (page.updated_at advanced every time: {'NOT' if stale else 'yes'}), "
        f"request ms p50 {statistics.median(took):.1f} max {max(took):.1f}, updated_at ms old on arrival p50 "
        f"{statistics.median(ages):.1f} max {max(ages):.1f}; the server sends Cache-Control "
        f"{', '.join(repr(h) for h in headers)}, bypassed (no-cache, a query of its own, no cache between)"
    )
    return problems, line


def check_logs(logs: dict[str, str]) -> tuple[list[str], int]:
    problems, warnings = [], 0
    for name, text in logs.items():
        lines = text.splitlines()
        bad = [line for line in lines if LOG_PROBLEM.search(line)]
        warnings += sum(1 for line in lines if "WARNING" in line)
        if bad:
            problems.append(f"`{name}`'s log: {len(bad)} error lines, the first: {bad[:3]}")
    return problems, warnings


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Args:
    trials: int
    mode: str
    interval: timedelta
    seed: int
    locations: int = 1


def fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:6.3f}"


def row_line(trial: int, p: Phase) -> str:
    return (
        f"  {trial:>5}  {p.kind:<8} #{p.outage_id:<4} {fmt(p.slot_wait)} {fmt(p.confirm)} {fmt(p.after_probes)}  "
        f"{fmt(p.record)} "
        f"{fmt(p.slack)} {fmt(p.summary)}   {fmt(p.slack_after_record)} {fmt(p.summary_after_record)}"
    )


HEADER = (
    "  trial  phase    outage   slot 2nd-pr 2nd-rec   record  Slack summary   Slack-rec summary-rec\n"
    "  (s; slot: 1st probe after the switch; 2nd-pr: 2nd probe after the 1st; 2nd-rec: record after the 2nd;\n"
    "   record, Slack, summary: after the switch; -rec: after recording)"
)
HEADER_LOCATIONS = (
    "  trial  phase    outage   slot 2nd-pr 2nd-rec   record  Slack summary   Slack-rec summary-rec\n"
    "  (s; slot: 1st probe after the switch, from any location; 2nd-pr: the deciding probe (the quorum-th\n"
    "   location's 2nd request; for the recovery the one taking the failing locations below the quorum) after\n"
    "   the 1st; 2nd-rec: record after it; record, Slack, summary: after the switch; -rec: after recording)"
)


def stats_line(label: str, values: list[float]) -> str:
    return (
        f"figure:   {label:<37} median {statistics.median(values):6.3f}  p90 {percentile(values, 90):6.3f}  "
        f"max {max(values):6.3f} s"
    )


def goal_line(label: str, values: list[float], goal: float) -> str:
    median = statistics.median(values)
    return f"goal:     {label:<44} <= {goal:.2f} s: median {median:.3f} s, {'met' if median <= goal else 'MISSED'}"


def versions_line(mode: str) -> str:
    names = ["werkzeug", "flask", "aiohttp", "slack_sdk"] + (
        ["celery", "kombu", "redis"] if mode == "distributed" else []
    )
    found = [f"{name} {importlib.metadata.version(name)}" for name in names]
    if mode == "distributed":
        client = redis.Redis.from_url(redis_url())
        try:
            found.append(f"Redis server {client.info('server')['redis_version']}")
        finally:
            client.close()
    return f"services: {', '.join(found)}"


@contextmanager
def flushed_redis() -> Iterator[None]:
    """The bench's Redis database, emptied before the run and after it."""
    client = redis.Redis.from_url(redis_url())
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchFailed(f"Redis is not reachable at {redis_url()} (set PORTALWATCH_BENCH_REDIS): {exc}") from exc
    client.flushdb()
    try:
        yield
    finally:
        client.flushdb()
        client.close()


def run(args: Args) -> tuple[list[str], list[str]]:
    """The figures' lines and the problems found."""
    rng = random.Random(args.seed)
    locations = location_names(args.locations)
    several = len(locations) > 1
    interval = args.interval.total_seconds()
    settle_seconds = max(SETTLE_INTERVALS * interval, SETTLE_MIN_SECONDS)
    trials: list[Trial] = []
    polls: list[Seen] = []
    problems: list[str] = []
    with ExitStack() as stack:
        target = stack.enter_context(Target())
        slack = stack.enter_context(SlackStandIn())
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw_bench_latency_")))
        if args.mode == "distributed":
            url = stack.enter_context(fresh_database("postgresql"))
            stack.enter_context(flushed_redis())
        else:
            url = f"sqlite:///{directory / 'portalwatch.db'}"
        progress(f"starting PortalWatch ({args.mode})…")
        service = stack.enter_context(portalwatch(args.mode, args.interval, locations, target, slack, directory, url))
        check_quorum(service, locations)
        print(HEADER_LOCATIONS if several else HEADER, flush=True)
        for number in range(1, args.trials + 1):
            progress(f"trial {number}/{args.trials}: settling…")
            settle(service, target, settle_seconds)
            outage = phase("outage", service, target, slack, rng, interval, None, polls, len(locations))
            print(row_line(number, outage), flush=True)
            recovery = phase("recovery", service, target, slack, rng, interval, outage.outage_id, polls, len(locations))
            print(row_line(number, recovery), flush=True)
            trials.append(Trial(number, outage, recovery))
        problems += check_outages(service, trials, slack)
        problems += check_locations(trials, locations)
        stack.close()  # PortalWatch stopped, the database dropped, Redis emptied, the servers closed
        problems += service.stop_problems
        log_problems, warnings = check_logs(service.logs)
        problems += log_problems
        poll_problems, poll_line = check_summary_polls(polls)
        problems += poll_problems

    where = (
        f" from {len(locations)} locations ({', '.join(locations)}), quorum majority ({majority(len(locations))})"
        if several
        else ""
    )
    lines = [
        f"setup:    PortalWatch {args.mode} ({', '.join(p.name for p in service.processes)}), one http probe every "
        f"{interval:g} s{where}, timeout {TIMEOUT}, failure and recovery thresholds {THRESHOLD}; {len(trials)} "
        f"trials, seed {args.seed}",
        poll_line,
    ]
    decided = "deciding probe" if several else "2nd probe"
    for kind in ("outage", "recovery"):
        phases = [t.outage if kind == "outage" else t.recovery for t in trials]
        waits = [p.slot_wait for p in phases if p.slot_wait is not None]
        confirms = [p.confirm for p in phases if p.confirm is not None]
        afters = [p.after_probes for p in phases if p.after_probes is not None]
        lines += [
            stats_line(f"{kind} first probe", waits) if waits else f"figure:   {kind} first probe: none",
            stats_line(f"{kind} {decided} after 1st", confirms) if confirms else f"figure:   {kind} {decided}: none",
            stats_line(f"{kind} record after {decided}", afters) if afters else f"figure:   {kind} {decided}: none",
            stats_line(f"{kind} record", [p.record for p in phases]),
            stats_line(f"{kind} Slack", [p.slack for p in phases]),
            stats_line(f"{kind} summary.json", [p.summary for p in phases]),
            stats_line(f"{kind} Slack after record", [p.slack_after_record for p in phases]),
            stats_line(f"{kind} summary after record", [p.summary_after_record for p in phases]),
        ]
    outages = [t.outage for t in trials]
    recoveries = [t.recovery for t in trials]
    lines += [
        goal_line("outage recorded, after the switch", [p.record for p in outages], GOAL_RECORD_S),
        goal_line("outage in Slack, after recording", [p.slack_after_record for p in outages], GOAL_AFTER_RECORD_S),
        goal_line(
            "outage on summary.json, after recording", [p.summary_after_record for p in outages], GOAL_AFTER_RECORD_S
        ),
    ]
    if several:  # the quorum issue sets goals for the outage only
        lines.append("goal:     recovery: none with several locations (its figures above)")
    else:
        lines += [
            goal_line("recovery recorded, after the switch", [p.record for p in recoveries], GOAL_RECORD_S),
            goal_line(
                "recovery in Slack, after recording", [p.slack_after_record for p in recoveries], GOAL_AFTER_RECORD_S
            ),
            goal_line(
                "recovery on summary.json, after recording",
                [p.summary_after_record for p in recoveries],
                GOAL_AFTER_RECORD_S,
            ),
        ]
    if not problems:
        lines.append(
            f"checked:  each of the {len(trials)} trials opened exactly one outage after its switch to 503 and "
            f"resolved it after the switch back, posted once and updated to Resolved in Slack; "
            + (f"all {len(locations)} locations probed the target after every switch; " if several else "")
            + f"no error in PortalWatch's logs ({warnings} warning lines); its {len(service.processes)} processes "
            "exited 0 on SIGTERM and left nothing running"
        )
    return lines, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detection_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=count, default=10, help="outages switched on and off (default 10)")
    parser.add_argument("--mode", choices=MODES, default="embedded", help="PortalWatch's processes (embedded)")
    parser.add_argument("--interval", type=interval_arg, default=timedelta(seconds=1), help="probe interval (1s)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the switches' random phases")
    parser.add_argument(
        "--locations",
        type=count,
        default=1,
        help="probe locations, all seeing the same target; more than 1: loc-1..loc-N with quorum: majority (1)",
    )
    parsed = parser.parse_args(sys.argv[1:] if argv is None else argv)
    args = Args(parsed.trials, parsed.mode, parsed.interval, parsed.seed, parsed.locations)

    def prelude() -> None:
        print_machine(["sqlite"] if args.mode == "embedded" else ["postgresql"])
        print(versions_line(args.mode))

    return report(prelude, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
