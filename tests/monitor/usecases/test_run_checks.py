"""Batches of checks run at once on the engine and recorded as they finish; confirmation at once, and only so much."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.storage.engine import transaction
from monitor.storage.enums import CheckKind
from monitor.storage.models import Check, Outage, Probe
from monitor.usecases import jobs
from monitor.usecases.checks import Due, run_checks
from tests.conftest import ROOT
from tests.monitor.scheduler.fakes import Recorder
from tests.monitor.usecases.targets import SLOT, TargetServer, config, stored

pytestmark = pytest.mark.timeout(60)


def test_a_hung_and_a_dripping_target_do_not_hold_back_two_hundred_fast_checks_beside_them(
    make: Any, target: str
) -> None:
    probes = {f"fast-{n:03d}": f"ok/{n}" for n in range(200)} | {"hung": "hang/0", "drip": "drip/0"}
    # 3 s each: long enough that two hundred checks on a loaded machine still finish first.
    runtime = make(config(target, probes, timeout="3s"))
    groups = list(run_checks(runtime, "local", [Due(probe_id, SLOT) for probe_id in probes]))

    assert sum(group.recorded for group in groups) == 202
    # The fast checks were committed in groups before either slow one: the last group holds the slow ones.
    checks = stored(runtime)
    first_slow = min(i for i, check in enumerate(checks) if check.probe_id in ("hung", "drip"))
    assert first_slow == 200
    assert all(check.ok for check in checks[:200])
    slow = {check.probe_id: check for check in checks[200:]}
    assert slow["hung"].error is not None and "within 3000 ms" in slow["hung"].error
    assert slow["drip"].error is not None and "not complete within 3000 ms" in slow["drip"].error


def test_a_redelivered_batch_runs_and_records_only_the_checks_not_yet_recorded(make: Any, target: str) -> None:
    runtime = make(config(target, {"a": "ok/1", "b": "ok/2"}))
    assert sum(r.recorded for r in run_checks(runtime, "local", [Due("a", SLOT)])) == 1
    assert sum(r.recorded for r in run_checks(runtime, "local", [Due("a", SLOT), Due("b", SLOT)])) == 1
    assert sorted(check.probe_id for check in stored(runtime)) == ["a", "b"]


def test_a_first_failure_sends_confirmation_checks_at_once_to_every_location(make: Any, target: str) -> None:
    locations = "locations: [montreal, vancouver]\nquorum: 1"  # one location's word opens the outage here
    runtime = make(config(target, {"pr-home": "down/1"}, locations=locations))
    sent = Recorder()
    runtime.dispatch = sent
    assert jobs.run_checks_job(runtime, "montreal", [["pr-home", SLOT.isoformat()]]) == 1

    confirmations = sent.jobs(jobs.RUN_CHECKS)
    assert {s.queue for s in confirmations} == {"probes.montreal", "probes.vancouver"}
    [slot] = {item[1] for s in confirmations for item in s.args[1]}
    assert all(item[2] == CheckKind.CONFIRMATION.value for s in confirmations for item in s.args[1])

    for s in confirmations:  # the workers of each location run them
        jobs.run_checks_job(runtime, *s.args)
        jobs.run_checks_job(runtime, *s.args)  # delivered twice: recorded once
    confirmed = stored(runtime, CheckKind.CONFIRMATION)
    assert sorted((c.location, c.slot) for c in confirmed) == [
        ("montreal", datetime.fromisoformat(slot)),
        ("vancouver", datetime.fromisoformat(slot)),
    ]
    with transaction(runtime.sessions) as session:
        [outage] = session.scalars(select(Outage)).all()
    assert outage.started_at == stored(runtime, CheckKind.SCHEDULED)[0].started_at


def test_when_every_probe_fails_at_once_confirmations_go_out_as_one_batch_per_location_and_stop_when_decided(
    make: Any, target: str
) -> None:
    probes = {f"p-{n:03d}": f"down/{n}" for n in range(150)}
    runtime = make(config(target, probes, threshold=3))
    sent = Recorder()
    runtime.dispatch = sent
    jobs.run_checks_job(runtime, "local", [[probe_id, SLOT.isoformat()] for probe_id in probes])
    rounds = 0
    while pending := [s for s in sent.jobs(jobs.RUN_CHECKS)]:
        sent.sent.clear()
        rounds += 1
        assert rounds <= 2, "confirmations must stop once every streak is decided"
        # Each round is a handful of batches (results are committed in groups), never one task per probe.
        assert len(pending) <= 20
        for s in pending:
            jobs.run_checks_job(runtime, *s.args)
        time.sleep(0.002)  # the next round's slot is a later millisecond
    assert rounds == 2  # threshold 3: the first failure and two confirmations
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 3 * 150
        assert session.scalar(select(func.count()).select_from(Outage)) == 1


WORKER = textwrap.dedent(
    """
    import sys
    from monitor.runtime import Runtime
    from monitor.settings import Settings
    from monitor.config import parse_config
    from monitor.usecases import jobs

    url, config_text, slot, *probes = sys.argv[1:]
    runtime = Runtime.create(Settings.explicit(database_url=url), parse_config(config_text, source="test.yaml"))
    jobs.run_checks_job(runtime, "local", [[probe, slot] for probe in probes])
    """
)


def test_a_batch_whose_worker_is_killed_mid_way_is_redelivered_and_nothing_is_recorded_twice_or_lost(
    make: Any, target: str, tmp_path: Path
) -> None:
    probes = {f"fast-{n:02d}": f"ok/{n}" for n in range(20)} | {"hung": "hang/0"}
    text = config(target, probes, timeout="20s")  # the hung check is still out when the worker dies
    runtime = make(text)
    url = runtime.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, url, text, SLOT.isoformat(), *probes], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 20
        while len(stored(runtime)) < 20:  # the fast ones are committed while the hung one is still out
            assert time.monotonic() < deadline and worker.poll() is None, "the fast checks were not recorded"
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)  # killed with the hung check in flight
    finally:
        worker.wait(timeout=10)
    assert len(stored(runtime)) == 20

    # Redelivered (acks come late, so the broker hands the same batch out again): only the lost check runs,
    # and the target answers this time.
    with transaction(runtime.sessions) as session:
        session.get_one(Probe, "hung").spec = {**session.get_one(Probe, "hung").spec, "url": f"{target}/ok/99"}
    again = jobs.run_checks_job(runtime, "local", [[probe, SLOT.isoformat()] for probe in probes])
    assert again == 1
    checks = stored(runtime)
    assert sorted(check.probe_id for check in checks) == sorted(probes)
    assert len({(c.probe_id, c.location, c.slot) for c in checks}) == len(checks) == 21
    assert timedelta(0) <= checks[-1].started_at - checks[0].started_at


def test_every_request_names_portalwatch_its_status_page_and_its_location(
    make: Any, target_server: TargetServer
) -> None:
    base = f"http://127.0.0.1:{target_server.server_address[1]}"
    runtime = make(config(base, {"pr-home": "ok/1"}, locations="locations: [toronto]"))
    assert sum(r.recorded for r in run_checks(runtime, "toronto", [Due("pr-home", SLOT)])) == 1
    [agent] = target_server.agents
    assert agent == f"PortalWatch/0.1.0 (+{runtime.config.page.url}; location=toronto)"
