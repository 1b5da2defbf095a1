"""How many checks the probe engine runs per CPU-second, how late they start, and in how much memory.

Run it from the repository root:

    .venv/bin/python -m bench.probe_throughput [--kind http|steps|browser[,…]] [--scenarios 500@20s,…]
        [--modes embedded,distributed] [--seconds 60] [--warmup S] [--components 4] [--logs DIR]

A scenario `N@I` is N probes of the kind, each every I. `--kind` (default http) may name several kinds,
run one after the other; without `--scenarios` and `--modes` each kind runs its own defaults:
  http     500@20s, 1000@10s, 5000@60s; embedded and distributed; timeout 5 s
  steps    200@10s; distributed; timeout 30 s
  browser  10@10s (20@10s needs more than 2 cores); distributed; timeout 30 s
For each kind, scenario and mode, in this order:

1. Targets, each in a process of its own, counting what they answered; their CPU is not counted.
   - http: 2 local aiohttp servers (`--target`, below) answer every `GET /p/<n>` with 200 and a 3-byte
     text/plain body at once. Probe n fetches /p/n from target n mod 2, so every probe has its own URL.
   - steps and browser: one loopback portal (bench.loopback_portals, `--portal KIND`), paths under
     /s/<n>/ or /b/<n>/ for probe n, its password random for the run (BENCH_PORTAL_PASSWORD in the
     PortalWatch processes' environment, where the probes read it as `${env:…}`).
2. The configuration: one file holding N probes spread evenly over `--components` components (default
   4), all at interval I, and one probe location whose name is new for each run (so no queued task of
   an earlier run can reach this one). The probes:
   - http: GET, expect_status [200].
   - steps, a transaction of 5 requests sharing a cookie jar: GET the sign-in page and extract its
     one-time csrf token by regex; POST the sign-in form (user, password, token), expecting "Welcome"
     and a session cookie; POST a 64 KB PDF upload (multipart), expecting 201 and a JSON id (extracted
     by JMESPath); GET it back, expecting its size; DELETE it (`always: true`), expecting 204.
   - browser: chromium loads the sign-in page, fills #user and #password, clicks submit and waits for
     #dashboard on the page the form leads to; expect_selector #dashboard; a screenshot only on failure.
3. PortalWatch, started as its real processes, each with its own log file:
   - embedded: `python -m monitor serve --config <file> --port <free>`, run in a temporary directory
     with DATABASE_URL, PORTALWATCH_DATA_DIR and REDIS_URL unset, so it uses its embedded default, a
     SQLite file (portalwatch.db, in that directory, with portalwatch-data beside it); one process
     holding the web app, the scheduler and the checks. PORTALWATCH_OPS_TOKEN is a random 64-character
     token. Ready when /api/v2/status.json answers.
   - distributed: a brand-new PostgreSQL database (bench.relief's fresh_database, dropped afterwards),
     `python -m monitor migrate`, then `python -m monitor scheduler` and one worker, `python -m monitor
     worker` as shipped (one process, its threads pool; PORTALWATCH_LOCATION the run's location, so it
     takes that location's probe queue and the default queue: deliveries and sweeps, near idle here),
     with DATABASE_URL and REDIS_URL (Redis db 11, or PORTALWATCH_BENCH_REDIS) set. No web server: it
     plays no part in running or recording checks. Ready when the worker has logged "ready.".
   Then the first check must be recorded (within 120 s), and the warm-up follows: `--warmup` seconds,
   by default one interval + 5 s (the first tick sends every probe's current slot at once, a burst
   that a restart causes and the steady state does not).
4. The window: `--seconds` (default 60) of wall time, from t0 to t1. Measured over it:
   - CPU s: utime + stime (/proc/<pid>/stat, all threads) of every PortalWatch process and of every
     process descended from one (a browser probe's playwright driver and chromium's processes: none for
     http and steps), plus cutime + cstime, the CPU of the children each has waited for, read at t0,
     every 0.5 s and at t1. A process that appeared in the window counts from zero; one that ended in it
     took its CPU into its parent's cutime, so it counts there (a chromium renderer living less than
     0.5 s included), and is taken off at its reading at t0. A descendant that left the tree (chromium's
     crash handler forks twice and is re-parented to init) is found by a tag in the environment it
     inherited, and counts up to its last reading. In distributed mode the PostgreSQL backends serving
     the bench database (pg_stat_activity where datname is that database, autovacuum included) are
     read the same way (utime + stime) and shown apart, and the scheduler's own CPU is shown apart too
     (part of the PortalWatch figure). A backend that ended mid-window counts up to its last reading.
     Redis's CPU (INFO cpu, user + sys) is shown apart and is in no total: the server is shared. The
     whole machine's busy CPU over the window (/proc/stat) is shown too, split into PortalWatch and its
     database, the targets, this bench, Redis and the rest: other work on a shared machine shows there.
   - due: for each probe, its slots starting in [t0, t1), found with `monitor.scheduler.slots.slot_for`
     (the scheduler's own function). done: rows of `checks` of kind scheduled whose (probe, slot) is
     one of those, read once every one is there or at t1 + the timeout + 10 s, whichever comes first;
     the processes run until then. A check whose slot is in the window but is not one of those slots
     fails the run.
   - lateness of each done check: started_at - slot (the scheduler's tick, the queue, the worker's
     pick-up and the engine's own wait before the request is sent), as p50/p95/p99/max.
   - checks per CPU-second: done / (PortalWatch CPU s + PostgreSQL backends' CPU s) over the window;
     and per worker CPU-second: done / the CPU s of the process running the checks (worker; embedded:
     serve) and its descendants. The checks of slots just before t0 are run in the window and those of
     slots just before t1 after it: in a steady state they balance.
   - peak RSS: the sum of VmRSS (/proc/<pid>/status) of the PortalWatch processes and their
     descendants, read every 0.5 s in the window, its highest value; the same for the worker's tree
     alone (the worker, its browser driver and chromium), and, for steps and browser, the highest sum
     of the tree's PSS (/proc/<pid>/smaps_rollup: a page shared by n processes counts 1/n in each,
     where VmRSS counts it in full in each); the processes of the tree at its peak, by name; and each
     PortalWatch process's own VmHWM (its peak over its whole life, start-up and first burst
     included), read at the end of the window.
   - browser: the chromium browser processes in the worker's tree (a chromium whose parent is not
     one), which must be exactly one for the whole window (the worker's one browser, reused; a new
     context per check), and the renderer processes seen.
5. Checked, any failure failing the run with the process's log tail or the lines in question: every
   process still running throughout; no ERROR, CRITICAL or traceback line in any PortalWatch log up to
   the end of the wait (WARNING lines are shown); every check recorded in the run ok (the targets never
   fail; the first failure's evidence is shown); the targets alive, asked for nothing but their
   probes' paths, having refused nothing (a portal refuses a wrong token, password, session or
   document), and having begun at least as many checks as were recorded; browser: one chromium browser.
6. Everything started is stopped: SIGTERM, then SIGKILL after 30 s; the run fails if any process
   seen, or a child of one, is left 10 s later. Redis keys the run created in its db are deleted; keys
   already there are left alone (a scheduler lock left by a killed earlier run is waited out, up to 20 s).

Goals (met / MISSED, printed, not failing the run): http: >= 450 checks per CPU-second at 500 @ 20s
and >= 650 at 1,000 @ 10s, peak total RSS <= 386 MiB at 1,000 probes; every kind: every due check
done, p95 lateness <= 1 s. The 1-minute load average before and after is printed: other work on the machine shows in
lateness, much less in CPU seconds per check.

`--logs DIR` keeps every process's log (Celery's included, one line per task received and done).
PostgreSQL is reached as bench.relief does, through PORTALWATCH_BENCH_PG.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib.metadata
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import celery
import redis
import sqlalchemy
from aiohttp import web
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.loopback_portals import KINDS as PORTAL_KINDS
from bench.loopback_portals import serve as serve_portal
from bench.relief import BenchFailed, count, fresh_database, pg_admin_url, pg_server_version
from monitor.config import Config, ConfigError, parse_config
from monitor.scheduler.leader import KEY_PREFIX
from monitor.scheduler.slots import slot_for
from monitor.storage.enums import CheckKind
from monitor.storage.models import Check
from probes.duration import parse_duration

ROOT = Path(__file__).resolve().parent.parent
MODES = ("embedded", "distributed")
KINDS = ("http", *PORTAL_KINDS)
# Per kind: the scenarios and modes run when none are given, the probes' timeout, the targets started.
DEFAULT_SCENARIOS = {"http": "500@20s,1000@10s,5000@60s", "steps": "200@10s", "browser": "10@10s"}
DEFAULT_MODES = {"http": MODES, "steps": ("distributed",), "browser": ("distributed",)}
PROBE_TIMEOUTS = {"http": timedelta(seconds=5), "steps": timedelta(seconds=30), "browser": timedelta(seconds=30)}
TARGET_COUNTS = {"http": 2, "steps": 1, "browser": 1}
CHECKER = {"embedded": "serve", "distributed": "worker"}  # the process that runs the checks, by mode
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
PASSWORD_ENV = "BENCH_PORTAL_PASSWORD"  # the portals' password, read by the probes as ${env:BENCH_PORTAL_PASSWORD}
PROCESS_TAG_ENV = "BENCH_PROCESS_TAG"  # in every PortalWatch process's environment: finds a child that left its tree
UPLOAD_SIZE = "64KB"  # the steps probe's upload, 64,000 bytes
UPLOAD_BYTES = 64_000
CHROMIUM = ("chromium", "chrome")
SAMPLE_EVERY = 0.5
START_TIMEOUT = 120.0
SETTLE_EXTRA = 10.0  # past t1 + the probes' timeout, the last checks of the window must be recorded
STOP_GRACE = 30.0
CHILDREN_GRACE = 10.0  # after the PortalWatch processes have exited, for their children to follow
LEADER_WAIT = 20.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TARGET_BODY = "ok\n"

TARGETS_SAID = {
    "http": "2 local aiohttp targets answering 200 at once",
    "steps": f"5 requests a check (sign-in page, sign in, {UPLOAD_SIZE} upload, read back, delete) to a local portal",
    "browser": "chromium: load a local sign-in page, fill 2 fields, submit, wait for #dashboard",
}
GOAL_CHECKS_PER_CPU = {(500, timedelta(seconds=20)): 450.0, (1000, timedelta(seconds=10)): 650.0}
GOAL_P95_LATENESS_S = 1.0
GOAL_RSS_MIB = 386.0
GOAL_RSS_PROBES = 1000

ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback \(most recent call last\)")
WARNING_LINE = re.compile(r"\bWARNING\b")


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def redis_url() -> str:
    return os.environ.get("PORTALWATCH_BENCH_REDIS", DEFAULT_REDIS_URL)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- scenarios ---------------------------------------------------------------------------------------


def seconds_text(interval: timedelta) -> str:
    return f"{interval.total_seconds():g}s"


@dataclass(frozen=True)
class Scenario:
    probes: int
    interval: timedelta

    @property
    def label(self) -> str:
        return f"{self.probes}@{seconds_text(self.interval)}"


def parse_scenarios(value: str) -> list[Scenario]:
    scenarios = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        number, at, every = part.partition("@")
        try:
            probes = count(number)
            interval = parse_duration(every)
        except (argparse.ArgumentTypeError, ValueError):
            raise argparse.ArgumentTypeError(f"a scenario is PROBES@INTERVAL, such as 500@20s; got {part!r}") from None
        if not at or interval <= timedelta(0):
            raise argparse.ArgumentTypeError(f"a scenario is PROBES@INTERVAL, such as 500@20s; got {part!r}")
        scenarios.append(Scenario(probes, interval))
    if not scenarios:
        raise argparse.ArgumentTypeError("give at least one scenario, such as 500@20s")
    return scenarios


def parse_modes(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [n for n in names if n not in MODES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"modes must be among {', '.join(MODES)}, got {value!r}")
    return list(dict.fromkeys(names))


def parse_kinds(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [n for n in names if n not in KINDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"kinds must be among {', '.join(KINDS)}, got {value!r}")
    return list(dict.fromkeys(names))


def seconds_arg(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return number


def config_text(scenario: Scenario, ports: list[int], location: str, components: int, kind: str = "http") -> str:
    """N probes of `kind` over `components` components, probe n using paths of its own (/p/n, /s/n/…,
    /b/n/…) on target n mod len(ports)."""
    every, timeout = seconds_text(scenario.interval), seconds_text(PROBE_TIMEOUTS[kind])
    lines = [
        f'page: {{id: pw-bench-{location}, name: Probe throughput bench, url: "http://status.test/"}}',
        f"locations: [{location}]",
        "components:",
    ]
    per = math.ceil(scenario.probes / components)
    for c in range(components):
        numbers = range(c * per, min(scenario.probes, (c + 1) * per))
        if not numbers:
            break
        lines += [f"  - id: portal-{c}", f"    name: Portal {c}", "    probes:"]
        for n in numbers:
            base = f"http://127.0.0.1:{ports[n % len(ports)]}"
            head = f"id: p{n:05d}, type: {kind}, interval: {every}, timeout: {timeout}"
            if kind == "http":
                lines.append(f'      - {{{head}, url: "{base}/p/{n}", expect_status: [200]}}')
            elif kind == "steps":
                lines += steps_probe(head, f"{base}/s/{n}")
            else:
                lines += browser_probe(head, f"{base}/b/{n}")
    return "\n".join(lines) + "\n"


def steps_probe(head: str, base: str) -> list[str]:
    """A transaction of 5 requests: sign-in page (csrf token by regex), sign in, upload, read back, delete."""
    password = f"${{env:{PASSWORD_ENV}}}"
    return [
        f"      - {{{head},",
        "         steps: [",
        f'           {{name: sign-in page, url: "{base}/sign-in", expect_status: [200],',
        """            extract: {csrf: {regex: 'name="csrf" value="([0-9a-f]+)"'}}},""",
        f'           {{name: sign in, method: POST, url: "{base}/sign-in",',
        f'            form: {{user: probe, password: "{password}", csrf: "${{csrf}}"}}, body_contains: "Welcome"}},',
        f'           {{name: upload, method: POST, url: "{base}/documents", expect_status: [201],',
        f"            upload: {{field: file, filename: probe.pdf, size: {UPLOAD_SIZE},",
        "                     content_type: application/pdf},",
        '            extract: {doc: {json: "id"}}},',
        f'           {{name: read back, url: "{base}/documents/${{doc}}",',
        f"""            body_contains: '"size": {UPLOAD_BYTES}'}},""",
        f'           {{name: delete, method: DELETE, url: "{base}/documents/${{doc}}", expect_status: [204],',
        "            always: true}]}",
    ]


def browser_probe(head: str, base: str) -> list[str]:
    """The sign-in page in chromium: fill the user and the password, submit, wait for the dashboard."""
    password = f"${{env:{PASSWORD_ENV}}}"
    return [
        f'      - {{{head}, url: "{base}/sign-in", expect_selector: "#dashboard",',
        "         steps: [",
        '           {name: fill user, fill: {selector: "#user", value: probe}},',
        f'           {{name: fill password, fill: {{selector: "#password", value: "{password}"}}}},',
        '           {name: submit, click: "button[type=submit]"},',
        '           {name: signed in, wait_for: {selector: "#dashboard"}}]}',
    ]


def due_slots(config: Config, start: datetime, end: datetime) -> set[tuple[str, datetime]]:
    """(probe, slot) for every slot of every probe that starts in [start, end), as the scheduler cuts them."""
    due = set()
    for _component, probe in config.probes():
        slot = slot_for(probe.id, probe.interval, start)
        if slot < start:
            slot = slot_for(probe.id, probe.interval, slot + probe.interval)
        while slot < end:
            due.add((probe.id, slot))
            slot = slot_for(probe.id, probe.interval, slot + probe.interval)
    return due


# --- the targets -------------------------------------------------------------------------------------


def serve_target(port_file: Path) -> int:
    """A target: 200 with a small body for GET /p/<n>; /_stats tells what was answered; stops on SIGTERM."""
    stats = {"probe": 0, "other": 0}

    async def probe(_request: web.Request) -> web.Response:
        stats["probe"] += 1
        return web.Response(text=TARGET_BODY, content_type="text/plain", charset="utf-8")

    async def report(_request: web.Request) -> web.Response:
        return web.json_response(stats)

    async def other(_request: web.Request) -> web.Response:
        stats["other"] += 1
        return web.Response(status=404, text="not a probe path\n")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/p/{n:[0-9]+}", probe)
        app.router.add_get("/_stats", report)
        app.router.add_route("*", "/{tail:.*}", other)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        partial = port_file.with_suffix(".partial")
        partial.write_text(str(sock.getsockname()[1]))
        partial.rename(port_file)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())
    return 0


def target_stats(port: int) -> dict[str, int]:
    """What the target answered: `probe` (http: every probe request; a portal: the checks begun), `other`
    (paths it does not serve), and a portal's `refused` and per-step counts."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as answer:
        stats: dict[str, int] = json.loads(answer.read())
        return stats


# --- processes ---------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    # A child left running when the bench itself is killed (a CI timeout) would go on probing: the
    # kernel sends it SIGTERM when the bench process exits, however it exits.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def read_stat(pid: int) -> tuple[int, int, float, float] | None:
    """(parent pid, start time in ticks, CPU seconds: utime + stime, CPU seconds of the children it has
    waited for: cutime + cstime) of a process, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ... utime 14 ... cstime 17
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return int(fields[1]), int(fields[19]), own, (int(fields[13]) + int(fields[14])) / CLOCK_TICKS


def read_status_kib(pid: int, name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def read_comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def read_pss_kib(pid: int) -> int | None:
    """Proportional set size: the process's private pages plus its share of the pages it shares."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def read_cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def tagged(pid: int, tag: bytes) -> bool:
    try:
        return tag in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def machine_busy() -> float:
    """CPU seconds the whole machine has spent since boot, all CPUs and every process: user, nice, system,
    irq and softirq (not idle, iowait or the hypervisor's steal)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / CLOCK_TICKS


def boot_ticks() -> int:
    """Now, in the clock ticks since boot that /proc/<pid>/stat gives a process's start time in."""
    return int(float(Path("/proc/uptime").read_text().split()[0]) * CLOCK_TICKS)


def is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres")
    except OSError:
        return False


Key = tuple[int, int]  # (pid, start time): a pid the kernel hands out again is another process


@dataclass
class Proc:
    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    counted: bool  # a PortalWatch process (its CPU and memory count), not a target

    @property
    def key(self) -> Key | None:
        stat = read_stat(self.popen.pid)
        return None if stat is None else (self.popen.pid, stat[1])

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Processes:
    """Every process a run starts; stopped in reverse order on exit, and checked gone, children included."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[Proc] = []
        self.seen: dict[Key, str] = {}  # every PortalWatch process and descendant ever seen, by role
        self.tag = uuid.uuid4().hex
        self.since = boot_ticks() - CLOCK_TICKS  # no process of ours started before this

    def start(self, role: str, argv: list[str], *, env: dict[str, str], cwd: Path, counted: bool = True) -> Proc:
        log = self.directory / f"{role.replace(' ', '-')}.log"
        if counted:
            env = {**env, PROCESS_TAG_ENV: f"{self.tag}:{role}"}
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        proc = Proc(role, popen, log, counted)
        self.procs.append(proc)
        key = proc.key
        if key is not None:
            self.seen[key] = role
        return proc

    @property
    def counted(self) -> list[Proc]:
        return [p for p in self.procs if p.counted]

    def check_alive(self) -> None:
        for proc in self.procs:
            code = proc.popen.poll()
            if code is not None:
                raise BenchFailed(
                    f"{proc.role} (pid {proc.popen.pid}) exited with code {code}; the end of its log:\n{proc.tail()}"
                )

    def cpu(self) -> float:
        """CPU s spent so far by the processes started here (utime + stime, and their waited-for children's)."""
        return sum(stat[2] + stat[3] for proc in self.procs if (stat := read_stat(proc.popen.pid)) is not None)

    def sleep(self, seconds: float) -> None:
        """Wait, failing as soon as any process has died."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            self.check_alive()
            time.sleep(min(0.25, left))
        self.check_alive()

    def descendants(self) -> dict[Key, str]:
        """The PortalWatch processes and every process descended from one, by role; recorded as seen.

        A descendant that left the tree (a daemon forking twice, re-parented to init, as chromium's crash
        handler does) is found by the tag in the environment it inherited, read only from the processes
        started since this run began and not found in a tree; its own children come with it.
        """
        table: dict[int, tuple[int, int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = read_stat(int(entry.name))
                if stat is not None:
                    table[int(entry.name)] = (stat[0], stat[1])
        children: dict[int, list[int]] = {}
        for pid, (ppid, _start) in table.items():
            children.setdefault(ppid, []).append(pid)
        found: dict[Key, str] = {}

        def walk(root: int, role: str) -> None:
            stack = [root]
            while stack:
                pid = stack.pop()
                found[(pid, table[pid][1])] = role
                stack.extend(children.get(pid, []))

        roots = {proc.popen.pid: proc.role for proc in self.counted if proc.popen.pid in table}
        for pid, role in roots.items():
            walk(pid, role)
        tree = {pid for pid, _ in found}
        for pid, (_ppid, start) in table.items():
            if pid in tree or start < self.since:
                continue
            for role in roots.values():
                if tagged(pid, f"{PROCESS_TAG_ENV}={self.tag}:{role}".encode()):
                    walk(pid, role)
                    tree = {p for p, _ in found}
                    break
        self.seen.update(found)
        return found

    def stop(self) -> list[str]:
        """SIGTERM each process, last started first, SIGKILL after STOP_GRACE; what was left or had to be killed."""
        with contextlib.suppress(OSError):
            self.descendants()
        problems = []
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
                try:
                    proc.popen.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait(timeout=10)
                    problems.append(f"{proc.role} did not stop within {STOP_GRACE:g} s of SIGTERM: killed")
        # Children end after their parent (chromium once the worker's browser driver has seen its pipe close).
        deadline = time.monotonic() + CHILDREN_GRACE
        while any(alive(key) for key in self.seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        for (pid, start), role in self.seen.items():
            if alive((pid, start)):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                problems.append(
                    f"process {pid} ({role} or a child of it, {read_comm(pid) or '?'}) was still running "
                    f"{CHILDREN_GRACE:g} s after the stop: killed"
                )
        return problems


def alive(key: Key) -> bool:
    stat = read_stat(key[0])
    return stat is not None and stat[1] == key[1]


@contextmanager
def processes(directory: Path) -> Iterator[Processes]:
    procs = Processes(directory)
    try:
        yield procs
    except BaseException:
        for problem in procs.stop():
            print(f"also: {problem}", file=sys.stderr)
        raise
    left = procs.stop()
    if left:
        raise BenchFailed("; ".join(left))


def child_env(**values: str) -> dict[str, str]:
    """A clean environment: none of this shell's DATABASE_URL, REDIS_URL or PORTALWATCH_* leaks in."""
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    env.update(values)
    return env


def start_targets(procs: Processes, directory: Path, kind: str = "http", password: str = "") -> list[int]:
    """The kind's targets, each a process of its own: aiohttp servers for http, a loopback portal otherwise."""
    ports = []
    started = []
    for n in range(1, TARGET_COUNTS[kind] + 1):
        port_file = directory / f"target-{n}.port"
        argv = [sys.executable, "-m", "bench.probe_throughput", "--target", str(port_file)]
        env = child_env()
        if kind != "http":
            argv = [sys.executable, "-m", "bench.probe_throughput", "--portal", kind, str(port_file)]
            env[PASSWORD_ENV] = password
        started.append((procs.start(f"target {n}", argv, env=env, cwd=ROOT, counted=False), port_file))
    deadline = time.monotonic() + 60
    for proc, port_file in started:
        while not port_file.exists():
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise BenchFailed(f"{proc.role} did not start; the end of its log:\n{proc.tail()}")
            time.sleep(0.05)
        ports.append(int(port_file.read_text()))
    return ports


def monitor_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


def wait_for(procs: Processes, what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        procs.check_alive()
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.role}:\n{p.tail(20)}" for p in procs.counted)
            raise BenchFailed(f"{what} within {timeout:g} s; the end of the logs:\n{tails}")
        time.sleep(0.25)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def logged(proc: Proc, needle: str) -> bool:
    try:
        return needle in proc.log.read_text(errors="replace")
    except OSError:
        return False


# --- reading the database ----------------------------------------------------------------------------


class Reader:
    """Reads the checks; no pool (no idle connection lingers as a backend of the bench database), and on
    SQLite no BEGIN IMMEDIATE (the service's engine takes the write lock; a reader must not)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, poolclass=NullPool)

    def any_check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                return conn.execute(select(Check.id).limit(1)).first() is not None
        except sqlalchemy.exc.DBAPIError:
            return False  # not migrated yet

    def window(self, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
        query = select(Check.probe_id, Check.slot, Check.started_at).where(
            Check.kind == CheckKind.SCHEDULED, Check.slot >= start, Check.slot < end
        )
        with self.engine.connect() as conn:
            return [(row.probe_id, row.slot, row.started_at) for row in conn.execute(query)]

    def totals(self) -> dict[str, int]:
        query = select(Check.kind, Check.ok, func.count()).group_by(Check.kind, Check.ok)
        with self.engine.connect() as conn:
            return {f"{kind}{'' if ok else ' failed'}": int(n) for kind, ok, n in conn.execute(query)}

    def failed(self, limit: int = 5) -> list[str]:
        """The first failed checks, one line each, and the first one's evidence."""
        query = select(Check.probe_id, Check.slot, Check.error_class, Check.error, Check.evidence).where(
            Check.ok.is_(False)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(Check.id).limit(limit)).all()
        lines = [f"{r.probe_id} slot {r.slot:%H:%M:%S.%f}: {r.error_class}: {r.error}" for r in rows]
        if rows:
            lines += ["--- the first one's evidence:", *rows[0].evidence.splitlines()[:40]]
        return lines

    def close(self) -> None:
        self.engine.dispose()


class PgBackends:
    """The PostgreSQL backends serving one database, found through an admin connection to another one."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.engine = create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT", pool_size=1)

    def pids(self) -> list[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :db"), {"db": self.database})
            return [int(pid) for (pid,) in rows if is_postgres(int(pid))]

    def close(self) -> None:
        self.engine.dispose()


def redis_cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


# --- the meter -----------------------------------------------------------------------------------------


@dataclass
class Usage:
    cpu: dict[str, float]  # role -> CPU s of its processes over the window
    pg_cpu: float | None
    pg_backends: int
    peak_rss_mib: float
    processes: int
    # Mean summed RSS over the first and the last tenth of the window's samples: flat memory keeps them equal.
    rss_first_mib: float = 0.0
    rss_last_mib: float = 0.0
    # By role, over the role's process and its descendants (a worker's browser driver and chromium):
    tree_rss_mib: dict[str, float] = field(default_factory=dict)  # the highest summed VmRSS
    tree_pss_mib: dict[str, float] = field(default_factory=dict)  # the highest summed PSS, when read
    tree_at_peak: dict[str, dict[str, int]] = field(default_factory=dict)  # process names at that RSS peak
    tree_cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # CPU s by process name
    browsers: dict[str, int] = field(default_factory=dict)  # chromium browser processes seen in the window
    renderers: dict[str, int] = field(default_factory=dict)  # chromium renderer processes seen in the window


class Meter:
    """CPU of the PortalWatch processes (and of the bench database's backends) and their summed RSS,
    read at t0, every SAMPLE_EVERY seconds, and at t1."""

    def __init__(self, procs: Processes, pg: PgBackends | None, *, pss: bool = False) -> None:
        self.procs = procs
        self.pg = pg
        self.pss = pss  # also read each process's PSS (smaps_rollup): only for the kinds with child processes
        self.tree_rss_kib: dict[str, int] = {}
        self.tree_pss_kib: dict[str, int] = {}
        self.tree_at_peak: dict[str, dict[str, int]] = {}
        self.browsers: dict[Key, str] = {}
        self.renderers: dict[Key, str] = {}
        self.names: dict[Key, str] = {}  # each process's name (comm) when last read
        self.base: dict[Key, float] = {}
        self.last: dict[Key, float] = {}
        self.current: set[Key] = set()  # the processes the latest sample read
        self.unwaited: set[Key] = set()  # processes whose parent is not in the tree
        self.roles: dict[Key, str] = {}
        self.pg_base: dict[Key, float] = {}
        self.pg_last: dict[Key, float] = {}
        self.peak_rss_kib = 0
        self.rss_samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-meter", daemon=True)
        self._lock = threading.Lock()
        self._failure: BaseException | None = None

    def _sample(self) -> None:
        found = self.procs.descendants()
        rss = 0
        cpu: dict[Key, float] = {}
        left_tree: set[Key] = set()
        in_tree = {pid for pid, _ in found}
        tree_rss: dict[str, int] = {}
        tree_pss: dict[str, int] = {}
        names: dict[str, dict[str, int]] = {}
        parents: dict[int, int] = {}
        comms: dict[int, str] = {}
        for key, role in found.items():
            stat = read_stat(key[0])
            if stat is None or stat[1] != key[1]:
                continue
            cpu[key] = stat[2] + stat[3]
            kib = read_status_kib(key[0], "VmRSS") or 0
            rss += kib
            tree_rss[role] = tree_rss.get(role, 0) + kib
            if self.pss:
                tree_pss[role] = tree_pss.get(role, 0) + (read_pss_kib(key[0]) or 0)
            comm = comms[key[0]] = read_comm(key[0])
            parents[key[0]] = stat[0]
            if stat[0] not in in_tree:
                left_tree.add(key)  # a root, or a process re-parented to init: nobody in the tree waits for it
            named = names.setdefault(role, {})
            named[comm] = named.get(comm, 0) + 1
        browsers: dict[Key, str] = {}
        renderers: dict[Key, str] = {}
        for key, role in found.items():
            if comms.get(key[0]) in CHROMIUM:  # chromium's own processes; its crash handler is chrome_crashpad
                if comms.get(parents[key[0]]) not in CHROMIUM:
                    browsers[key] = role  # chromium started by something else: a browser, not one of its helpers
                elif key not in self.renderers and b"--type=renderer" in read_cmdline(key[0]):
                    renderers[key] = role
        pg: dict[Key, float] = {}
        if self.pg is not None:
            for pid in self.pg.pids():
                stat = read_stat(pid)
                if stat is not None:
                    pg[(pid, stat[1])] = stat[2]
        with self._lock:
            self.last.update(cpu)
            self.current = set(cpu)
            self.unwaited.update(left_tree)
            self.roles.update(found)
            self.pg_last.update(pg)
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            self.rss_samples.append(rss)
            for role, kib in tree_rss.items():
                if kib > self.tree_rss_kib.get(role, -1):
                    self.tree_rss_kib[role] = kib
                    self.tree_at_peak[role] = names.get(role, {})
            for role, kib in tree_pss.items():
                self.tree_pss_kib[role] = max(self.tree_pss_kib.get(role, 0), kib)
            self.browsers.update(browsers)
            self.renderers.update(renderers)
            self.names.update({key: comms[key[0]] for key in found if comms.get(key[0])})

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            try:
                self._sample()
            except BaseException as exc:  # re-raised by stop(), in the bench's own thread
                self._failure = exc
                return

    def start(self) -> None:
        self._sample()
        self.base, self.pg_base = dict(self.last), dict(self.pg_last)
        self._thread.start()

    def stop(self) -> Usage:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._failure is not None:
            raise BenchFailed(f"reading the processes' CPU failed: {self._failure!r}")
        self._sample()
        # A process's CPU counts that of the children it has waited for (cutime + cstime): a child that ends
        # between two readings, as a browser's short-lived renderers do, still counts, in its parent. So
        # a tree's CPU over the window is the change in the sum over its live processes; one that ended in
        # the window took its count into its parent's, so it is taken off once (its reading at t0), unless
        # nobody in the tree waited for it (a re-parented one), which counts up to its last reading.
        cpu: dict[str, float] = {proc.role: 0.0 for proc in self.procs.counted}
        by_name: dict[str, dict[str, float]] = {}
        for key, seconds in self.last.items():
            if key in self.current or key in self.unwaited:
                spent = seconds - self.base.get(key, 0.0)
            else:
                spent = -self.base.get(key, 0.0)
            cpu[self.roles[key]] += spent
            named = by_name.setdefault(self.roles[key], {})
            name = self.names.get(key, "?")
            named[name] = named.get(name, 0.0) + spent
        pg = sum(seconds - self.pg_base.get(key, 0.0) for key, seconds in self.pg_last.items())
        tenth = max(len(self.rss_samples) // 10, 1)
        return Usage(
            cpu=cpu,
            pg_cpu=None if self.pg is None else pg,
            pg_backends=len(self.pg_last),
            peak_rss_mib=self.peak_rss_kib / 1024,
            processes=len(self.last),
            rss_first_mib=sum(self.rss_samples[:tenth]) / tenth / 1024,
            rss_last_mib=sum(self.rss_samples[-tenth:]) / tenth / 1024,
            tree_rss_mib={role: kib / 1024 for role, kib in self.tree_rss_kib.items()},
            tree_pss_mib={role: kib / 1024 for role, kib in self.tree_pss_kib.items()},
            tree_at_peak=self.tree_at_peak,
            tree_cpu=by_name,
            browsers={role: sum(r == role for r in self.browsers.values()) for role in cpu},
            renderers={role: sum(r == role for r in self.renderers.values()) for role in cpu},
        )


# --- one run ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: Scenario
    mode: str
    seconds: float
    due: int
    done: int
    lateness: list[float]
    usage: Usage
    hwm_mib: dict[str, float]
    redis_cpu: float | None
    totals: dict[str, int]
    target_hits: int
    load: tuple[float, float]  # 1-minute load average at t0 and at t1
    warnings: list[str] = field(default_factory=list)
    kind: str = "http"
    target_stats: list[dict[str, int]] = field(default_factory=list)
    machine_cpu: float = 0.0  # CPU s every process of the machine spent in the window (/proc/stat)
    targets_cpu: float = 0.0  # of which the targets'
    bench_cpu: float = 0.0  # and this process's (its meter's readings of /proc included)

    @property
    def pw_cpu(self) -> float:
        return sum(self.usage.cpu.values())

    @property
    def total_cpu(self) -> float:
        return self.pw_cpu + (self.usage.pg_cpu or 0.0)

    @property
    def per_cpu_second(self) -> float:
        return self.done / self.total_cpu if self.total_cpu > 0 else math.inf

    @property
    def checker(self) -> str:
        return CHECKER[self.mode]

    @property
    def checker_per_cpu_second(self) -> float:
        """Checks per CPU-second of the process that runs them and its children (a browser's included)."""
        spent = self.usage.cpu.get(self.checker, 0.0)
        return self.done / spent if spent > 0 else math.inf

    @property
    def p95(self) -> float:
        return percentile(self.lateness, 95) if self.lateness else math.inf

    @property
    def name(self) -> str:
        return f"{self.kind} {self.mode} {self.scenario.label}"

    def goals(self) -> list[tuple[str, bool, str]]:
        goals = []
        wanted = None
        if self.kind == "http":
            wanted = GOAL_CHECKS_PER_CPU.get((self.scenario.probes, self.scenario.interval))
        if wanted is not None:
            goals.append(
                (f">= {wanted:g} checks per CPU-second", self.per_cpu_second >= wanted, f"{self.per_cpu_second:.0f}")
            )
        goals.append(("every due check done", self.done == self.due, f"{self.done:,} of {self.due:,}"))
        goals.append(
            (f"p95 lateness <= {GOAL_P95_LATENESS_S:g} s", self.p95 <= GOAL_P95_LATENESS_S, f"{self.p95:.3f} s")
        )
        if self.kind == "http" and self.scenario.probes == GOAL_RSS_PROBES:
            goals.append(
                (
                    f"peak total RSS <= {GOAL_RSS_MIB:g} MiB at {GOAL_RSS_PROBES:,} probes",
                    self.usage.peak_rss_mib <= GOAL_RSS_MIB,
                    f"{self.usage.peak_rss_mib:.0f} MiB in {self.usage.processes} process(es)",
                )
            )
        return goals


@dataclass
class Args:
    seconds: float
    warmup: float | None
    components: int
    logs: Path | None


def run_one(scenario: Scenario, mode: str, args: Args, kind: str = "http") -> Result:
    label = f"{kind} {mode} {scenario.label}"
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw_bench_probes_")))
        if args.logs is not None:  # runs last but one: after every process has stopped and written its last line
            prefix = f"{kind}-{mode}-{scenario.probes}-{scenario.interval.total_seconds():g}s"
            stack.callback(keep_logs, directory, args.logs, prefix)
        password = secrets.token_urlsafe(12)
        targets = stack.enter_context(processes(directory))
        progress(f"{label}: starting {TARGET_COUNTS[kind]} target(s)…")
        ports = start_targets(targets, directory, kind, password)
        location = f"bench-{uuid.uuid4().hex[:8]}"
        body = config_text(scenario, ports, location, args.components, kind)
        try:
            config = parse_config(body, source="bench-probes.yaml")
        except ConfigError as exc:  # past about 9,000 probes the file is over the loader's 1 MiB
            raise BenchFailed(f"the scenario's configuration is refused: {exc}") from exc
        config_path = directory / "portalwatch.yaml"
        config_path.write_text(body, encoding="utf-8")
        token = secrets.token_hex(32)
        # The probes' password, and where a browser check's failure screenshot would go.
        extra = {PASSWORD_ENV: password, "PORTALWATCH_EVIDENCE_DIR": str(directory / "evidence")}
        if mode == "embedded":
            home = directory / "embedded"
            home.mkdir()
            procs = stack.enter_context(processes(directory))
            port = free_port()
            env = child_env(PORTALWATCH_OPS_TOKEN=token, **extra)
            progress(f"{label}: starting `monitor serve` ({scenario.probes} probes)…")
            procs.start(
                "serve", monitor_argv("serve", "--config", str(config_path), "--port", str(port)), env=env, cwd=home
            )
            wait_for(procs, "serve did not answer", lambda: http_ok(f"http://127.0.0.1:{port}/api/v2/status.json"))
            reader = Reader(f"sqlite:///{home / 'portalwatch.db'}")
            stack.callback(reader.close)
            return measure(scenario, mode, args, config, procs, targets, ports, reader, None, None, kind)

        client = redis.Redis.from_url(redis_url())
        stack.callback(client.close)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise BenchFailed(f"Redis is not reachable at {redis_url()} (set PORTALWATCH_BENCH_REDIS): {exc}") from exc
        url = stack.enter_context(fresh_database("postgresql"))
        before = set(client.scan_iter(count=1000))
        stack.callback(drop_new_keys, client, before)
        wait_for_leader_lock(client)
        env = child_env(DATABASE_URL=url, REDIS_URL=redis_url(), PORTALWATCH_OPS_TOKEN=token)
        progress(f"{label}: migrating a new PostgreSQL database…")
        migrated = subprocess.run(
            monitor_argv("migrate", "--config", str(config_path)),
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
            preexec_fn=_die_with_parent,
        )
        if migrated.returncode != 0:
            raise BenchFailed(f"`monitor migrate` failed ({migrated.returncode}):\n{migrated.stderr[-3000:]}")
        procs = stack.enter_context(processes(directory))
        progress(f"{label}: starting the workers and the scheduler ({scenario.probes} probes)…")
        worker = procs.start(
            "worker",
            monitor_argv("worker", "--config", str(config_path)),
            env={**env, **extra, "PORTALWATCH_LOCATION": location},
            cwd=directory,
        )
        wait_for(procs, "the worker did not log `ready.`", lambda: logged(worker, " ready."))
        procs.start("scheduler", monitor_argv("scheduler", "--config", str(config_path)), env=env, cwd=directory)
        reader = Reader(url)
        stack.callback(reader.close)
        pg = PgBackends(make_url(url).database or "")
        stack.callback(pg.close)
        return measure(scenario, mode, args, config, procs, targets, ports, reader, pg, client, kind)
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def keep_logs(directory: Path, into: Path, prefix: str) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for log in directory.glob("*.log"):
        shutil.copyfile(log, into / f"{prefix}-{log.name}")


def wait_for_leader_lock(client: redis.Redis) -> None:
    """A scheduler killed in an earlier run leaves its lock for its TTL: wait it out rather than measure a standby."""
    deadline = time.monotonic() + LEADER_WAIT
    while client.exists(f"{KEY_PREFIX}:leader"):
        if time.monotonic() > deadline:
            raise BenchFailed(f"{KEY_PREFIX}:leader in {redis_url()} is held by another scheduler")
        time.sleep(0.5)


def drop_new_keys(client: redis.Redis, before: set[Any]) -> None:
    new = [key for key in client.scan_iter(count=1000) if key not in before]
    if new:
        client.delete(*new)


def measure(
    scenario: Scenario,
    mode: str,
    args: Args,
    config: Config,
    procs: Processes,
    targets: Processes,
    ports: list[int],
    reader: Reader,
    pg: PgBackends | None,
    client: redis.Redis | None,
    kind: str = "http",
) -> Result:
    label = f"{kind} {mode} {scenario.label}"
    timeout = PROBE_TIMEOUTS[kind]
    wait_for(procs, "no check was recorded", reader.any_check)
    warmup = args.warmup if args.warmup is not None else scenario.interval.total_seconds() + 5
    progress(f"{label}: first check recorded; warm-up {warmup:g} s, then {args.seconds:g} s measured…")
    procs.sleep(warmup)
    targets.check_alive()

    meter = Meter(procs, pg, pss=kind != "http")
    redis_before = None if client is None else redis_cpu(client)
    load_before = os.getloadavg()[0]
    busy_before, targets_before, bench_before = machine_busy(), targets.cpu(), time.process_time()
    t0 = datetime.now(UTC)
    mono0 = time.monotonic()
    meter.start()
    procs.sleep(args.seconds)
    t1 = datetime.now(UTC)
    usage = meter.stop()
    elapsed = time.monotonic() - mono0
    load_after = os.getloadavg()[0]
    machine_cpu = machine_busy() - busy_before
    targets_cpu, bench_cpu = targets.cpu() - targets_before, time.process_time() - bench_before
    redis_spent = None if client is None or redis_before is None else redis_cpu(client) - redis_before
    hwm = {p.role: (read_status_kib(p.popen.pid, "VmHWM") or 0) / 1024 for p in procs.counted}

    due = due_slots(config, t0, t1)
    settle_until = time.monotonic() + timeout.total_seconds() + SETTLE_EXTRA
    while True:
        rows = reader.window(t0, t1)
        done = {(probe_id, slot) for probe_id, slot, _ in rows}
        if due <= done or time.monotonic() > settle_until:
            break
        procs.sleep(0.5)
    procs.check_alive()
    targets.check_alive()

    problems = log_errors(procs)
    if problems:
        raise BenchFailed(f"{label}: errors in the logs:\n" + "\n".join(problems))
    off_grid = sorted(done - due)
    if off_grid:
        shown = ", ".join(f"{p} {s.isoformat()}" for p, s in off_grid[:5])
        raise BenchFailed(f"{label}: {len(off_grid)} checks in the window are on no slot of their probe: {shown}")
    totals = reader.totals()
    failed = reader.failed()
    if failed:
        raise BenchFailed(f"{label}: checks failed ({totals}); the first:\n" + "\n".join(failed))
    if set(totals) - {CheckKind.SCHEDULED.value}:
        raise BenchFailed(f"{label}: checks other than scheduled ones were recorded: {totals}")
    stats = [target_stats(port) for port in ports]
    hits = sum(s["probe"] for s in stats)
    recorded = sum(totals.values())
    if any(s["other"] or s.get("refused") for s in stats) or hits < recorded:
        raise BenchFailed(f"{label}: the targets answered {stats}, for {recorded} checks recorded")
    if kind == "browser" and usage.browsers.get(CHECKER[mode]) != 1:
        tree = usage.tree_at_peak.get(CHECKER[mode])
        raise BenchFailed(
            f"{label}: {usage.browsers.get(CHECKER[mode], 0)} chromium browser processes under the "
            f"{CHECKER[mode]} in the window, not the one it should reuse (its processes at the peak: {tree})"
        )

    lateness = [(started - slot).total_seconds() for probe_id, slot, started in rows if (probe_id, slot) in due]
    if any(late < 0 for late in lateness):
        raise BenchFailed(f"{label}: a check started before its slot (lateness {min(lateness):.3f} s)")
    return Result(
        scenario=scenario,
        mode=mode,
        seconds=elapsed,
        due=len(due),
        done=len(lateness),
        lateness=lateness,
        usage=usage,
        hwm_mib=hwm,
        redis_cpu=redis_spent,
        totals=totals,
        target_hits=hits,
        load=(load_before, load_after),
        warnings=log_warnings(procs),
        kind=kind,
        target_stats=stats,
        machine_cpu=machine_cpu,
        targets_cpu=targets_cpu,
        bench_cpu=bench_cpu,
    )


def log_errors(procs: Processes) -> list[str]:
    found = []
    for proc in procs.counted:
        lines = proc.log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if ERROR_LINE.search(line):
                found.append(f"--- {proc.role}, line {i + 1}:\n" + "\n".join(lines[i : i + 15]))
                if len(found) >= 5:
                    return found
    return found


def log_warnings(procs: Processes) -> list[str]:
    return [
        f"{proc.role}: {line.strip()[:300]}"
        for proc in procs.counted
        for line in proc.log.read_text(errors="replace").splitlines()
        if WARNING_LINE.search(line)
    ]


# --- printing --------------------------------------------------------------------------------------------


def print_machine(modes: list[str], kinds: list[str] | None = None) -> None:
    versions = [
        f"aiohttp {aiohttp.__version__}",
        f"SQLAlchemy {sqlalchemy.__version__}",
    ]
    if "browser" in (kinds or []):
        versions += browser_versions()
    if "embedded" in modes:
        versions.append(f"SQLite {sqlite3.sqlite_version}")
    if "distributed" in modes:
        versions.append(f"celery {celery.__version__}")
        versions.append(f"PostgreSQL server {pg_server_version(pg_admin_url())}")
        client = redis.Redis.from_url(redis_url())
        try:
            versions.append(f"Redis server {client.info('server')['redis_version']}")
        except redis.RedisError as exc:
            raise BenchFailed(f"Redis is not reachable at {redis_url()} (set PORTALWATCH_BENCH_REDIS): {exc}") from exc
        finally:
            client.close()
    print(f"machine:  {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"versions: {', '.join(versions)}")


def browser_versions() -> list[str]:
    """Playwright's version and that of the chromium the browser probes launch (Debian's)."""
    from probes.browser.runner import chromium_path

    executable = chromium_path()
    if not Path(executable).exists():
        raise BenchFailed(f"chromium not found at {executable}: the browser probes need Debian's chromium package")
    try:
        shown = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchFailed(f"{executable} --version failed: {exc}") from exc
    return [f"playwright {importlib.metadata.version('playwright')}", shown.stdout.strip() or "chromium (no version)"]


def rate(per_second: float) -> str:
    """A rate as the table shows it: whole numbers, a decimal below 10 (a browser's checks)."""
    return f"{per_second:.0f}" if per_second >= 10 else f"{per_second:.1f}"


def render(results: list[Result]) -> str:
    header = (
        "kind",
        "mode",
        "probes",
        "interval",
        "done/due",
        "checks/CPU-s",
        "worker checks/CPU-s",
        "CPU s",
        "PG CPU s",
        "sched CPU s",
        "lateness p50/p95/p99/max s",
        "peak RSS MiB",
        "worker tree RSS/PSS MiB",
        "processes",
    )
    rows = []
    for r in results:
        lat = r.lateness or [math.nan]
        rows.append(
            (
                r.kind,
                r.mode,
                f"{r.scenario.probes:,}",
                seconds_text(r.scenario.interval),
                f"{r.done:,}/{r.due:,}",
                rate(r.per_cpu_second),
                rate(r.checker_per_cpu_second),
                f"{r.pw_cpu:.2f}",
                "-" if r.usage.pg_cpu is None else f"{r.usage.pg_cpu:.2f}",
                f"{r.usage.cpu['scheduler']:.2f}" if "scheduler" in r.usage.cpu else "-",
                "/".join(f"{percentile(lat, p):.3f}" for p in (50, 95, 99)) + f"/{max(lat):.3f}",
                f"{r.usage.peak_rss_mib:.0f}",
                f"{r.usage.tree_rss_mib.get(r.checker, 0.0):.0f}"
                + (f"/{pss:.0f}" if (pss := r.usage.tree_pss_mib.get(r.checker)) is not None else ""),
                str(r.usage.processes),
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells))

    lines = [fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in rows), ""]
    lines.append("per process (CPU s in the window; VmHWM: peak RSS over its whole life):")
    for r in results:
        parts = [f"{role} {cpu:.2f} s, {r.hwm_mib.get(role, 0):.0f} MiB" for role, cpu in r.usage.cpu.items()]
        if r.usage.pg_cpu is not None:
            parts.append(f"{r.usage.pg_backends} PostgreSQL backend(s) {r.usage.pg_cpu:.2f} s")
        if r.redis_cpu is not None:
            parts.append(f"Redis (shared, in no total) {r.redis_cpu:.2f} s")
        lines.append(
            f"  {r.name} over {r.seconds:.1f} s (1-minute load average {r.load[0]:.2f} at its start, "
            f"{r.load[1]:.2f} at its end): " + "; ".join(parts)
        )
        others = r.machine_cpu - r.total_cpu - r.targets_cpu - r.bench_cpu - (r.redis_cpu or 0.0)
        lines.append(
            f"    the machine: {r.machine_cpu / r.seconds:.2f} of {os.cpu_count()} CPUs busy on average in the window: "
            f"PortalWatch and its database {r.total_cpu / r.seconds:.2f}, the targets {r.targets_cpu / r.seconds:.2f}, "
            f"this bench {r.bench_cpu / r.seconds:.2f}, Redis {(r.redis_cpu or 0.0) / r.seconds:.2f}, "
            f"other work {others / r.seconds:.2f}"
        )
        lines.append(
            f"    total RSS: {r.usage.rss_first_mib:.0f} MiB over the window's first tenth, "
            f"{r.usage.rss_last_mib:.0f} MiB over its last tenth"
        )
        at_peak = r.usage.tree_at_peak.get(r.checker, {})
        if r.kind != "http" or sum(at_peak.values()) > 1:
            made = ", ".join(f"{n} {name}" for name, n in sorted(at_peak.items(), key=lambda item: -item[1]))
            by_name = r.usage.tree_cpu.get(r.checker, {}).items()
            # A process gone before its name was read is shown as "?", and only when it spent anything.
            spent = sorted(((n, s) for n, s in by_name if n != "?" or s >= 0.005), key=lambda item: -item[1])
            pss = r.usage.tree_pss_mib.get(r.checker)
            lines.append(
                f"    {r.checker} tree (the {r.checker} and every process it started): "
                f"{r.usage.cpu.get(r.checker, 0.0):.2f} CPU s ({', '.join(f'{name} {s:.2f}' for name, s in spent)}), "
                f"{r.checker_per_cpu_second:.1f} checks per CPU-second; "
                f"peak VmRSS {r.usage.tree_rss_mib.get(r.checker, 0.0):.0f} MiB"
                + ("" if pss is None else f", peak PSS {pss:.0f} MiB")
                + f"; at the peak: {made}"
            )
        if r.kind == "browser":
            lines.append(
                f"    chromium: {r.usage.browsers.get(r.checker, 0)} browser process(es) in the window "
                f"(one, reused: met), {r.usage.renderers.get(r.checker, 0)} renderer processes seen "
                f"(sampled every {SAMPLE_EVERY:g} s; a context per check)"
            )
        if r.kind != "http":
            answered = ", ".join(f"{key} {n:,}" for stats in r.target_stats for key, n in stats.items())
            lines.append(f"    the portal answered: {answered}")
        recorded = ", ".join(f"{n:,} {kind}" for kind, n in sorted(r.totals.items()))
        lines.append(f"    checks recorded in the whole run: {recorded}; the targets answered {r.target_hits:,}")
        for warning in r.warnings[:5]:
            lines.append(f"    log warning: {warning}")
        if len(r.warnings) > 5:
            lines.append(f"    ... and {len(r.warnings) - 5} more log warnings")
    lines += ["", "goals:"]
    for r in results:
        for goal, met, shown in r.goals():
            lines.append(f"  {r.name}: {goal}: {'met' if met else 'MISSED'} ({shown})")
    return "\n".join(lines)


FOOTNOTE = """
done/due: scheduled checks recorded for the slots that start in the window / those slots (slot_for).
checks/CPU-s: done / (CPU s + PG CPU s). CPU s: every PortalWatch process and its children (embedded:
  serve; distributed: scheduler, worker), sched CPU s being the scheduler's part; PG CPU s: the bench
  database's PostgreSQL backends. worker checks/CPU-s: done / CPU s of the process running the checks
  (worker; embedded: serve) and its children: a browser probe's playwright driver and chromium
  processes. lateness: started_at - slot of the done checks.
peak RSS MiB: the highest sum of the PortalWatch processes' (and their children's) VmRSS, read every 0.5 s
  in the window; worker tree RSS/PSS MiB: the same for the worker (embedded: serve) and its children, and
  the highest sum of their PSS. Summed VmRSS counts a page shared by several processes (chromium's) once
  per process; PSS (read for the steps and browser kinds) splits it between them."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--target"]:
        return serve_target(Path(argv[1]))
    if argv[:1] == ["--portal"]:
        return serve_portal(argv[1], Path(argv[2]), os.environ[PASSWORD_ENV])
    parser = argparse.ArgumentParser(prog="python -m bench.probe_throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", type=parse_kinds, default=["http"], help=f"{', '.join(KINDS)}, or several (http)")
    parser.add_argument(
        "--scenarios",
        type=parse_scenarios,
        default=None,
        help="default: " + "; ".join(f"{kind} {value}" for kind, value in DEFAULT_SCENARIOS.items()),
    )
    parser.add_argument(
        "--modes",
        type=parse_modes,
        default=None,
        help="default: " + "; ".join(f"{kind} {','.join(value)}" for kind, value in DEFAULT_MODES.items()),
    )
    parser.add_argument("--seconds", type=seconds_arg, default=60.0, help="seconds measured (default 60)")
    parser.add_argument("--warmup", type=seconds_arg, default=None, help="seconds of warm-up (default interval + 5)")
    parser.add_argument("--components", type=count, default=4, help="components the probes are spread over (4)")
    parser.add_argument("--logs", type=Path, default=None, help="copy every process's log into this directory")
    parsed = parser.parse_args(argv)
    kinds: list[str] = parsed.kind
    runs = [
        (kind, scenario, mode)
        for kind in kinds
        for scenario in (parsed.scenarios or parse_scenarios(DEFAULT_SCENARIOS[kind]))
        for mode in (parsed.modes or list(DEFAULT_MODES[kind]))
    ]
    modes = list(dict.fromkeys(mode for _, _, mode in runs))
    args = Args(parsed.seconds, parsed.warmup, parsed.components, parsed.logs)
    try:
        print_machine(modes, kinds)
        before = os.getloadavg()[0]
        for kind in kinds:
            labels = ", ".join(dict.fromkeys(f"{s.label} {m}" for k, s, m in runs if k == kind))
            print(
                f"scenario: {kind}: {labels} (probes @ interval, mode); {TARGETS_SAID[kind]}; timeout "
                f"{seconds_text(PROBE_TIMEOUTS[kind])}",
                flush=True,
            )
        print(
            f"          over {args.components} component(s); {args.seconds:g} s measured after a warm-up of "
            + (f"{args.warmup:g} s" if args.warmup is not None else "one interval + 5 s"),
            flush=True,
        )
        results = [run_one(scenario, mode, args, kind) for kind, scenario, mode in runs]
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"load:     1-minute load average {before:.2f} before the run, {os.getloadavg()[0]:.2f} after\n")
    print(render(results))
    print(FOOTNOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
