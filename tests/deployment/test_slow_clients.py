"""Slow clients cannot starve the web: real gunicorn, as shipped (gevent workers), on a fresh PostgreSQL database.

Measured against the command this replaced (`gunicorn --bind … --workers 4 monitor.wsgi:app`, sync
workers): with 200 slow clients open, 0 of 4 requests to summary.json were answered within 40 s.
"""

from __future__ import annotations

import itertools
import select
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import ROOT
from tests.deployment.test_deployment import GUNICORN, gunicorn, migrate, shipped_gunicorn, web_env

SLOW_CLIENTS = 200
NORMAL_REQUESTS = 4
PER_REQUEST_BOUND = 10.0  # seconds; a served request takes tens of milliseconds


def _dribble() -> Iterator[bytes]:
    """A request that never ends: a request line, then one header line after another, never the blank line."""
    yield from (bytes([b]) for b in b"GET /api/v2/summary.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    yield from (bytes([b]) for b in itertools.cycle(b"X-Slow: 1\r\n"))


class SlowClients:
    """`count` connections that each send one byte a second and never finish their request.

    Like an attacker, it reopens a connection the server drops, so `count` are open at all times.
    """

    def __init__(self, host: str, port: int, count: int) -> None:
        self.address = (host, port)
        self.count = count
        self.sockets: list[tuple[socket.socket, Iterator[bytes], float]] = []
        self.dropped_after: list[float] = []  # how long each connection the server dropped had been open
        self.answered = 0  # connections the server wrote to: an unfinished request must get nothing
        self.reopen_errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def start(self) -> None:
        self.sockets = [self._open() for _ in range(self.count)]
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock, _, _ in self.sockets:
            sock.close()

    def _open(self) -> tuple[socket.socket, Iterator[bytes], float]:
        sock = socket.create_connection(self.address, timeout=5)
        sock.setblocking(False)
        return sock, _dribble(), time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for i, (sock, stream, opened) in enumerate(self.sockets):
                if not self._still_open(sock, stream):
                    self.dropped_after.append(time.monotonic() - opened)
                    sock.close()
                    try:
                        self.sockets[i] = self._open()
                    except OSError as exc:  # recorded, not raised: an exception in a thread fails pytest late
                        self.reopen_errors.append(repr(exc))

    def _still_open(self, sock: socket.socket, stream: Iterator[bytes]) -> bool:
        if sock.fileno() == -1:
            return False
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:  # the server wrote something or closed the connection
            with suppress(OSError):  # reset rather than closed: dropped all the same
                self.answered += bool(sock.recv(4096))
            return False
        try:
            sock.send(next(stream))
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return False
        return True


@contextmanager
def slow_clients(url: str, count: int) -> Iterator[SlowClients]:
    host, port = url.removeprefix("http://").split(":")
    clients = SlowClients(host, int(port), count)
    clients.start()
    try:
        yield clients
    finally:
        # Before gunicorn stops: a graceful shutdown waits for open connections (graceful_timeout).
        clients.stop()


def timed_get(url: str) -> tuple[int | str, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=PER_REQUEST_BOUND) as response:
            response.read()
            return response.status, time.monotonic() - started
    except OSError as exc:  # a timeout, a refused or reset connection: the request was not served
        return f"{type(exc).__name__}: {exc}", time.monotonic() - started


@pytest.mark.timeout(60)
def test_two_hundred_slow_clients_do_not_stop_the_status_api_from_being_served(
    tmp_path: Path, postgres_url: str
) -> None:
    env = web_env(postgres_url)
    migrate(env)
    log = tmp_path / "gunicorn.log"
    port, env, args = shipped_gunicorn(env)
    with gunicorn(args, env, port, log, cwd=tmp_path) as url, slow_clients(url, SLOW_CLIENTS) as slow:
        time.sleep(2.5)  # every slow client accepted and part-way through its request line ...
        assert slow.dropped_after == []  # ... and none dropped yet (keepalive is 5 s): all 200 are held
        with ThreadPoolExecutor(NORMAL_REQUESTS) as pool:
            results = list(pool.map(timed_get, [f"{url}/api/v2/summary.json"] * NORMAL_REQUESTS))
        assert [status for status, _ in results] == [200] * NORMAL_REQUESTS, (results, log.read_text()[-3000:])
        assert max(elapsed for _, elapsed in results) < PER_REQUEST_BOUND
        assert slow.answered == 0  # nothing was served to a request that never finished


@pytest.mark.timeout(60)
def test_a_client_that_never_finishes_its_headers_is_dropped_after_the_keepalive_timeout(
    tmp_path: Path, postgres_url: str
) -> None:
    # Without this, each slow client would keep its greenlet for as long as it liked, and
    # worker_connections of them would fill a worker.
    keepalive = 2
    env = web_env(postgres_url, PORTALWATCH_WEB_KEEPALIVE=str(keepalive))
    migrate(env)
    log = tmp_path / "gunicorn.log"
    port, env, args = shipped_gunicorn(env)
    with gunicorn(args, env, port, log, cwd=tmp_path) as url, slow_clients(url, 20) as slow:
        deadline = time.monotonic() + keepalive + 8
        while len(slow.dropped_after) < 20 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(slow.dropped_after) >= 20, (slow.dropped_after, slow.reopen_errors)
        # Dropped at the timeout, give or take the one-second polling of this test.
        assert all(keepalive - 0.5 <= seconds <= keepalive + 4 for seconds in slow.dropped_after), slow.dropped_after
        assert slow.answered == 0


@pytest.mark.timeout(60)
def test_a_query_waiting_on_postgresql_does_not_block_the_rest_of_its_gevent_worker(
    tmp_path: Path, postgres_url: str
) -> None:
    # psycopg cooperates with gevent only if it saw the monkey-patching when it was imported; if it
    # blocked, this one worker could serve nothing else until PostgreSQL answered.
    env = web_env(postgres_url, PORTALWATCH_WEB_WORKERS="1")
    migrate(env)
    log = tmp_path / "gunicorn.log"
    port, env, args = shipped_gunicorn(env)
    database = create_engine(postgres_url)
    try:
        with gunicorn(args, env, port, log, cwd=tmp_path) as url, database.connect() as holder:
            holder.execute(text("LOCK TABLE components IN ACCESS EXCLUSIVE MODE"))  # until the rollback below
            with ThreadPoolExecutor(1) as pool:
                blocked = pool.submit(timed_get, f"{url}/api/v2/summary.json")
                _wait_for_a_query_waiting_on_a_lock(database)
                status, elapsed = timed_get(f"{url}/static/status.css")
                assert (status, blocked.done()) == (200, False)
                assert elapsed < 3.0
                holder.rollback()
                assert blocked.result()[0] == 200  # and the held request completes once the lock goes
    finally:
        database.dispose()


def _wait_for_a_query_waiting_on_a_lock(engine: Engine) -> None:
    deadline = time.monotonic() + 10
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one() > 0:
                return
        time.sleep(0.1)
    raise AssertionError("the summary request never reached PostgreSQL's lock queue")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("how", "refusal"),
    [
        # --preload, or the configuration named as a module, load the app in the master before gevent
        # patches the workers; a forced wait function makes psycopg block even when loaded after.
        ("preload", "the PortalWatch app was imported by the gunicorn master"),
        ("config-as-module", "the PortalWatch app was imported by the gunicorn master"),
        ("PSYCOPG_WAIT_FUNC=wait_c", "psycopg waits on PostgreSQL with a blocking call"),
    ],
)
def test_gunicorn_refuses_to_start_workers_that_would_block_on_postgresql(
    tmp_path: Path, postgres_url: str, how: str, refusal: str
) -> None:
    log = tmp_path / "gunicorn.log"
    _port, env, args = shipped_gunicorn(web_env(postgres_url))
    if how == "preload":
        args = ["--preload", *args]
    elif how == "config-as-module":
        args = ["-c", "python:monitor.web.gunicorn_conf", "monitor.wsgi:app"]
        env["PYTHONPATH"] = str(ROOT)
    else:
        env["PSYCOPG_WAIT_FUNC"] = "wait_c"
    with log.open("wb") as out:
        server = subprocess.Popen([str(GUNICORN), *args], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        returncode = server.wait(timeout=45)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    output = log.read_text()
    assert returncode != 0, output
    assert refusal in output, output
