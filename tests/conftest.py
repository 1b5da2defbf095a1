"""Real parts for tests: a fresh PostgreSQL database, Redis, a Slack stand-in, the flaky portal.

Nothing is skipped when a server is missing: a test that needs PostgreSQL or Redis fails loudly
with what it tried to reach.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from demo.portal import FlakyPortal
from monitor.config import Config, parse_config
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import make_engine, transaction, utcnow
from monitor.storage.migrate import migrate
from monitor.usecases.checks import record_check
from monitor.usecases.configure import apply_config
from probes.result import CheckResult, ErrorClass

PG_ADMIN_URL = os.environ.get("PORTALWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("PORTALWATCH_TEST_REDIS", "redis://127.0.0.1:6379/13")
ROOT = Path(__file__).resolve().parent.parent

# Two components whose probes point at the discard port: for tests that record facts but never probe.
OFFLINE_CONFIG = """
page: {id: pw-test, name: Test portal status, url: "http://status.test/", time_zone: America/Toronto}
relief: {grace_days: 7}
components:
  - id: pr-portal
    name: Permanent residence portal
    description: Applications for permanent residence
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/"}
  - id: employer-portal
    name: Employer portal
    probes:
      - {id: employer-home, type: http, url: "http://127.0.0.1:9/"}
"""


@pytest.fixture(scope="session")
def postgres_server() -> str:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is required for this test and is not reachable at {PG_ADMIN_URL}: {exc}")
    finally:
        engine.dispose()
    return PG_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A brand-new, empty database for one test, dropped afterwards."""
    name = f"pw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    """A brand-new, empty SQLite database (for the migrations' own tests)."""
    return f"sqlite:///{tmp_path / 'portalwatch.db'}"


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A new SQLite database already at the latest schema: a copy of the one migrated once per run
    (migrating one per test cost more than half a second each, hundreds of times)."""
    return _copy_of(migrated_sqlite, tmp_path / "portalwatch.db")


def _copy_of(template: Path, path: Path) -> str:
    # The backup API, not a file copy: it carries what the WAL holds too.
    with sqlite3.connect(template) as source, sqlite3.connect(path) as target:
        source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest) -> str:
    """A brand-new, empty database on each storage back end the product supports (for migration tests)."""
    name = "empty_sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the latest schema, made once per run: each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "portalwatch.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL database at the latest schema, made once per run: each test's is created from it."""
    name = f"pw_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(postgres_server).set(database=name).render_as_string(hide_password=False))
    migrate(engine)
    engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template to have no connections
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run the test on both storage back ends the product supports, each a new database already at the
    latest schema (migrating one per test was most of the suite's time; the migrations have tests of
    their own on empty databases, `empty_database_url`)."""
    if request.param == "sqlite":
        yield _copy_of(request.getfixturevalue("migrated_sqlite"), tmp_path / "portalwatch.db")
        return
    server: str = request.getfixturevalue("postgres_server")
    template_name: str = request.getfixturevalue("migrated_postgres")
    name = f"pw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required for this test and is not reachable at {REDIS_TEST_URL}: {exc}")
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture
def portal() -> Iterator[FlakyPortal]:
    with FlakyPortal(slow_seconds=3.0) as running:
        yield running


# One component with one probe, for tests that record checks by hand (record_checks below).
ONE_PROBE_CONFIG = """
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 5s}
"""
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def check_result(at: datetime, ok: bool, *, probe: str = "pr-home", location: str = "local") -> CheckResult:
    """What a probe run returns: a 200 when `ok`, otherwise a 503 with its evidence."""
    if ok:
        return CheckResult(probe, location, at, True, latency_ms=40.0, status_code=200)
    return CheckResult(
        probe, location, at, False, status_code=503, error_class=ErrorClass.STATUS, error="expected 200, got 503"
    )


def record_checks(
    runtime: Runtime, *checks: tuple[float, bool], probe: str = "pr-home", location: str = "local", t0: datetime = T0
) -> list[int]:
    """Record (seconds after t0, ok) checks as the workers would, each in its slot; returns new delivery ids."""
    deliveries: list[int] = []
    for seconds, ok in checks:
        at = t0 + timedelta(seconds=seconds)
        with transaction(runtime.sessions) as session:
            result = check_result(at, ok, probe=probe, location=location)
            deliveries += record_check(session, result, slot=at, grace_days=7, now=at)
    return deliveries


def portal_config(portal: FlakyPortal, *, interval: str = "0.5s", grace_days: int = 7, extra: str = "") -> str:
    return f"""
page: {{name: Test portal status, url: "http://status.test/", time_zone: America/Toronto}}
failure_threshold: 2
recovery_threshold: 2
relief: {{grace_days: {grace_days}, interval: 1s}}
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {{id: pr-home, type: http, url: "{portal.url_for("pr")}", interval: {interval}, timeout: 1s,
         expect_status: [200], body_contains: "Sign in"}}
  - id: employer-portal
    name: Employer portal
    probes:
      - {{id: employer-home, type: http, url: "{portal.url_for("employer")}", interval: {interval}, timeout: 1s,
         expect_status: [200], body_contains: "Sign in"}}
{extra}"""


def free_port() -> int:
    """A loopback port nothing listens on right now, for a server a test starts itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# One data directory for the whole run: the letters' self-signed key is made once, not in every test.
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="portalwatch-test-data-"))


def make_runtime(database_url: str, config: Config | str, **settings: Any) -> Runtime:
    """A migrated database with the configuration registered, as `python -m monitor serve` prepares it."""
    settings.setdefault("data_dir", str(TEST_DATA_DIR))
    if isinstance(config, str):
        config = parse_config(config, source="test.yaml")
    runtime = Runtime.create(Settings.explicit(database_url=database_url, **settings), config)
    migrate(runtime.engine)
    with transaction(runtime.sessions) as session:
        apply_config(session, runtime.config, now=utcnow())
    return runtime


@dataclass
class SlackStandIn:
    """An HTTP server speaking enough of Slack's Web API to record what PortalWatch sends.

    It keeps the messages it was sent (with their metadata, for conversations.history), and can
    misbehave: `failing` answers every call with a transient error, `error` with the named Slack
    error, `hold` makes calls wait until released, `lose_answers_for` stores a post and then answers
    only after that many seconds (after the client gave up), as a post whose answer was lost, and
    `rate_limited` answers the next calls HTTP 429 with these Retry-After seconds, one each.

    It also stands in for the `response_url` of a button press (`response_url`): what is sent
    there is kept in `responses`.
    """

    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    failing: bool = False
    error: str | None = None
    lose_answers_for: float = 0.0
    rate_limited: list[int] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    hold: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)  # set while a call is held
    lock: threading.Lock = field(default_factory=threading.Lock)

    def methods(self) -> list[str]:
        with self.lock:
            return [c["method"] for c in self.calls]

    def posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def top_level(self) -> list[dict[str, Any]]:
        """The channel's own messages, without thread replies."""
        return [m for m in self.posts() if not m.get("thread_ts")]

    def replies(self, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.posts() if m.get("thread_ts") == ts]

    @property
    def response_url(self) -> str:
        return self.url.replace("/api/", "/respond/T0/1234/abcd")

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.calls)):
                    return
            time.sleep(0.1)
        raise AssertionError(f"Slack stand-in did not receive the expected calls; got {self.methods()}")


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    import time

    counter = iter(range(1, 1_000_000))
    state: dict[str, SlackStandIn] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            method, _, query = self.path.rsplit("/", 1)[-1].partition("?")
            self._handle(method, {key: values[-1] for key, values in parse_qs(query).items()})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if self.path.startswith("/respond/"):
                with state["slack"].lock:
                    state["slack"].responses.append(json.loads(raw))
                self._answer(200, b"ok", "text/plain")
                return
            # Slack's Web API takes JSON or form-encoded bodies; record either as a dict.
            if "json" in (self.headers.get("Content-Type") or ""):
                body: dict[str, Any] = json.loads(raw)
            else:
                body = {key: values[-1] for key, values in parse_qs(raw).items()}
            method, _, query = self.path.rsplit("/", 1)[-1].partition("?")
            body.update({key: values[-1] for key, values in parse_qs(query).items()})
            self._handle(method, body)

        def _handle(self, method: str, body: dict[str, Any]) -> None:
            stand_in = state["slack"]
            with stand_in.lock:
                stand_in.calls.append({"method": method, "body": body, "auth": self.headers.get("Authorization")})
            if stand_in.hold is not None:
                stand_in.holding.set()
                stand_in.hold.wait(30)
            delay = 0.0
            with stand_in.lock:
                retry_after = stand_in.rate_limited.pop(0) if stand_in.rate_limited else None
            if retry_after is not None:
                self._answer(429, b'{"ok": false, "error": "ratelimited"}', retry_after=retry_after)
                return
            if stand_in.failing:
                payload: dict[str, Any] = {"ok": False, "error": "service_unavailable"}
            elif stand_in.error:
                payload = {"ok": False, "error": stand_in.error}
            elif method == "chat.postMessage":
                ts = f"1700000000.{next(counter):06d}"
                with stand_in.lock:
                    stand_in.messages.append(
                        {
                            "ts": ts,
                            "channel": "C0OUTAGES",
                            "text": body.get("text"),
                            "blocks": body.get("blocks"),
                            "thread_ts": body.get("thread_ts"),
                            "metadata": body.get("metadata"),
                        }
                    )
                payload = {"ok": True, "channel": "C0OUTAGES", "ts": ts}
                delay = stand_in.lose_answers_for
            elif method in ("conversations.history", "conversations.replies"):
                # The history holds the channel's own messages; a thread's replies are read from the thread.
                with stand_in.lock:
                    found = [
                        dict(m)
                        for m in reversed(stand_in.messages)
                        if (
                            m.get("thread_ts") == body.get("ts")
                            if method == "conversations.replies"
                            else not m.get("thread_ts")
                        )
                    ]
                if str(body.get("include_all_metadata")).lower() not in ("1", "true"):
                    for message in found:
                        message.pop("metadata", None)
                payload = {"ok": True, "messages": found, "has_more": False}
            else:
                with stand_in.lock:
                    for message in stand_in.messages:
                        if message["ts"] == body.get("ts"):
                            message["text"] = body.get("text")
                            message["blocks"] = body.get("blocks")
                payload = {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
            if delay:
                time.sleep(delay)
            self._answer(200, json.dumps(payload).encode())

        def _answer(
            self, status: int, data: bytes, content_type: str = "application/json", retry_after: int | None = None
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting: that is the point of lose_answers_for

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["slack"] = SlackStandIn(url=f"http://127.0.0.1:{server.server_address[1]}/api/")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["slack"]
    if state["slack"].hold is not None:
        state["slack"].hold.set()
    server.shutdown()
    server.server_close()
