"""The web tests' parts: the ops test app (offline configuration, a bearer token, a clock stopped at NOW),
a recorded outage, a case with an access code, and Debian's chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, sync_playwright

from exemptions.cases.access import hash_code
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Case, CaseComponent, Outage
from monitor.web import create_app
from probes.browser.runner import CHROMIUM_ARGS
from tests.conftest import OFFLINE_CONFIG, make_runtime

TOKEN = "s3cret"
NOW = datetime(2026, 11, 22, 14, 15, tzinfo=UTC)


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, OFFLINE_CONFIG, ops_token=TOKEN)
    runtime.clock = lambda: NOW
    yield runtime
    runtime.close()


@pytest.fixture
def runtime_on_both(database_url: str) -> Iterator[Runtime]:
    """The same test runtime, on SQLite and on PostgreSQL (for tests whose writes both back ends must take)."""
    runtime = make_runtime(database_url, OFFLINE_CONFIG, ops_token=TOKEN)
    runtime.clock = lambda: NOW
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_outage(runtime: Runtime) -> int:
    """The permanent residence portal, down from 10:00 to 11:00 EST on 20 November; last good check 09:59."""
    with transaction(runtime.sessions) as session:
        outage = Outage(
            component_id="pr-portal",
            started_at=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
            last_ok_at=datetime(2026, 11, 20, 14, 59, tzinfo=UTC),
            ended_at=datetime(2026, 11, 20, 16, 0, tzinfo=UTC),
            detected_at=datetime(2026, 11, 20, 15, 1, tzinfo=UTC),
            grace_days=7,
        )
        session.add(outage)
        session.flush()
        return outage.id


def add_case(
    runtime: Runtime,
    case_id: str,
    *,
    deadline: datetime,
    access_code: str | None,
    email: str | None = None,
) -> None:
    """An extendable case on the permanent residence portal, on Toronto's clock, its access code hashed."""
    with transaction(runtime.sessions) as session:
        session.add(
            Case(
                case_id=case_id,
                deadline=deadline,
                time_zone="America/Toronto",
                extendable=True,
                email=email,
                access_hash=None if access_code is None else hash_code(access_code),
                components=[CaseComponent(component_id="pr-portal")],
            )
        )


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is required for page tests: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
