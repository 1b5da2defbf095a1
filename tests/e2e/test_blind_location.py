"""A location whose worker cannot get out (a dead proxy in its environment) is recorded blind, opens no
outage, and sees again by itself once its way out works: real worker processes, PostgreSQL, Redis."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from demo.portal import FlakyPortal
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import LocationSight
from monitor.storage.models import Check, Location, Outage
from monitor.web import create_app
from tests.conftest import TEST_DATA_DIR, free_port, make_runtime, portal_config
from tests.e2e.test_distributed import start, stop, stopped_after

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY")


def wait_for(what: str, condition: Callable[[], bool], *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


def checks_at(runtime: Runtime, location: str) -> list[Check]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Check).where(Check.location == location).order_by(Check.id)))


def sight(runtime: Runtime, location: str) -> LocationSight:
    with transaction(runtime.sessions) as session:
        return session.get_one(Location, location).sight


@pytest.mark.timeout(240)
def test_a_location_behind_a_dead_proxy_is_blind_opens_no_outage_and_sees_again_when_its_way_out_works(
    tmp_path: Path, postgres_url: str, redis_url: str, portal: FlakyPortal
) -> None:
    locations = (
        "locations:\n"
        f'  - {{name: toronto, control: "{portal.url}/", control_timeout: 1s}}\n'
        f'  - {{name: montreal, control: "{portal.url}/", control_timeout: 1s}}\n'
    )
    text = portal_config(portal, interval="0.5s", extra=locations)
    config = tmp_path / "portalwatch.yaml"
    config.write_text(text)
    clean = {key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES}
    env = {
        **clean,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "PORTALWATCH_CONFIG": str(config),
        "PORTALWATCH_DATA_DIR": str(TEST_DATA_DIR),
    }
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there: every request through it is refused
    behind_dead_proxy = {**env, **{name: dead_proxy for name in ("HTTP_PROXY", "HTTPS_PROXY")}}
    runtime = make_runtime(postgres_url, text, ops_token="ops-secret")
    logs = [tmp_path / name for name in ("scheduler.log", "toronto.log", "montreal.log", "montreal-2.log")]
    worker = ["worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "WARNING"]
    processes = [
        start(["scheduler"], env, logs[0]),
        start([*worker, "--locations", "toronto"], env, logs[1]),
        start([*worker, "--locations", "montreal", "--probes-only"], behind_dead_proxy, logs[2]),
    ]
    try:
        with stopped_after(processes, logs):
            wait_for(
                "montreal blind with several checks recorded from each location",
                lambda: (
                    sight(runtime, "montreal") == LocationSight.BLIND
                    and len(checks_at(runtime, "montreal")) >= 6
                    and len(checks_at(runtime, "toronto")) >= 6
                ),
            )
            montreal = checks_at(runtime, "montreal")
            assert all(not check.ok and check.blind for check in montreal)
            assert all(check.error_class is not None and check.error_class.value == "connect" for check in montreal)
            toronto = checks_at(runtime, "toronto")
            assert all(check.ok and not check.blind for check in toronto)
            with transaction(runtime.sessions) as session:
                assert session.scalars(select(Outage)).all() == []

            client = create_app(runtime).test_client()
            answer = client.get("/api/ops/locations", headers={"Authorization": "Bearer ops-secret"})
            shown = {row["name"]: row for row in answer.get_json()["locations"]}
            assert shown["montreal"]["blind"] is True and shown["montreal"]["control_error"]
            assert shown["toronto"]["sight"] == "seeing"

            # Its way out is repaired (a worker without the dead proxy takes over): it sees again by itself.
            stop(processes.pop())
            processes.append(start([*worker, "--locations", "montreal", "--probes-only"], env, logs[3]))
            wait_for("montreal seeing again", lambda: sight(runtime, "montreal") == LocationSight.SEEING)
            wait_for("a counted check from montreal", lambda: any(not c.blind for c in checks_at(runtime, "montreal")))
            counted = [c for c in checks_at(runtime, "montreal") if not c.blind]
            assert all(check.ok for check in counted)
            with transaction(runtime.sessions) as session:
                assert session.scalars(select(Outage)).all() == []
    finally:
        runtime.close()
