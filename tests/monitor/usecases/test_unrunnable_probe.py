"""A worker that cannot run a probe (no Chromium where it was told to look) records that, and opens no outage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Run in a process of its own: the browser a worker process shares between its checks is launched
# once, and the test process may have launched one already.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime, timedelta
    from sqlalchemy import select
    from monitor.storage.engine import transaction
    from monitor.storage.models import Check, Outage
    from monitor.usecases import jobs
    from tests.conftest import make_runtime

    url, database = sys.argv[1], sys.argv[2]
    config = f'''
    failure_threshold: 2
    components:
      - id: pr-portal
        name: Permanent residence portal
        probes:
          - {{id: pr-browser, type: browser, url: "{url}", interval: 10s, timeout: 5s}}
    '''
    runtime = make_runtime(database, config)
    slot = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    for n in range(3):
        jobs.run_checks_job(runtime, "local", [["pr-browser", (slot + n * timedelta(seconds=10)).isoformat()]])
    with transaction(runtime.sessions) as session:
        rows = session.scalars(select(Check))
        checks = [(c.ok, c.error_class.value if c.error_class else None, c.error) for c in rows]
        outages = len(session.scalars(select(Outage)).all())
    print(json.dumps({"checks": checks, "outages": outages}))
    runtime.close()
    """
)


@pytest.mark.timeout(120)
def test_a_browser_probe_on_a_worker_without_chromium_is_recorded_as_unrunnable_and_opens_no_outage(
    tmp_path: Path, target: str
) -> None:
    env = {**os.environ, "PORTALWATCH_CHROMIUM": str(tmp_path / "no-chromium-here")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"{target}/ok/1", f"sqlite:///{tmp_path / 'pw.db'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["outages"] == 0
    assert len(found["checks"]) == 3
    for ok, error_class, error in found["checks"]:
        assert (ok, error_class) == (False, "probe")
        assert "chromium not found" in error
