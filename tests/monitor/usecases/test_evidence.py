"""The stored check log verifies, and `verify-evidence` names the first broken link of an edited one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from monitor.cli import main
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Check, ProbeState
from monitor.usecases.checks import Observed
from monitor.usecases.checks import record_checks as record_batch
from monitor.usecases.evidence import verify_evidence
from tests.conftest import ONE_PROBE_CONFIG, T0, check_result, make_runtime, record_checks


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, ONE_PROBE_CONFIG)
    yield runtime
    runtime.close()


def checks(runtime: Runtime) -> list[Check]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Check).order_by(Check.id)))


def test_every_recorded_check_is_linked_to_the_one_before_it_and_the_log_verifies(runtime: Runtime) -> None:
    record_checks(runtime, (0, True), (5, False), (10, False), (15, True), (20, True))
    record_checks(runtime, (0, True), (5, True), location="vancouver")
    stored = checks(runtime)
    local = [c for c in stored if c.location == "local"]
    assert local[0].prev_digest is None
    assert [c.prev_digest for c in local[1:]] == [c.digest for c in local[:-1]]
    with transaction(runtime.sessions) as session:
        assert session.get_one(ProbeState, ("pr-home", "local")).last_digest == local[-1].digest
    report = verify_evidence(runtime)
    assert (report.intact, report.chains, report.checks) == (True, 2, 7)


def test_a_batch_that_raced_a_redelivery_still_leaves_an_unbroken_chain(runtime: Runtime) -> None:
    record_checks(runtime, (0, True), (5, False))
    batch = [
        Observed(check_result(T0 + timedelta(seconds=s), ok), T0 + timedelta(seconds=s))
        for s, ok in ((5, False), (10, False), (15, True))
    ]  # the check at 5 s is already recorded
    with transaction(runtime.sessions) as session:
        assert record_batch(session, batch, grace_days=7, now=T0 + timedelta(seconds=16)).recorded == 2
    assert verify_evidence(runtime).intact
    assert len(checks(runtime)) == 4


def test_an_edited_check_is_named_by_verify_evidence_which_exits_non_zero(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record_checks(runtime, (0, True), (5, False), (10, False), (15, True))
    edited = checks(runtime)[1]
    with transaction(runtime.sessions) as session:  # someone makes the failure look like a success
        session.execute(update(Check).where(Check.id == edited.id).values(ok=True, status_code=200, error=None))
    config = tmp_path / "portalwatch.yaml"
    config.write_text(ONE_PROBE_CONFIG)
    monkeypatch.setenv("DATABASE_URL", runtime.engine.url.render_as_string(hide_password=False))
    assert main(["verify-evidence", "--config", str(config)]) == 1
    out = capsys.readouterr()
    assert f"BROKEN: check {edited.id} (probe pr-home, location local" in out.out
    assert "a field of this check was edited" in out.out
    assert "1 chain(s) do not verify" in out.err


def test_a_removed_check_is_caught_at_the_one_after_it(runtime: Runtime) -> None:
    record_checks(runtime, (0, True), (5, True), (10, True), (15, True))
    removed, after = checks(runtime)[1:3]
    with transaction(runtime.sessions) as session:
        session.execute(delete(Check).where(Check.id == removed.id))
    report = verify_evidence(runtime)
    assert [b.check_id for b in report.broken] == [after.id]


def test_an_untouched_log_verifies_through_the_command(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record_checks(runtime, (0, True), (5, True))
    config = tmp_path / "portalwatch.yaml"
    config.write_text(ONE_PROBE_CONFIG)
    monkeypatch.setenv("DATABASE_URL", runtime.engine.url.render_as_string(hide_password=False))
    assert main(["verify-evidence", "--config", str(config)]) == 0
    assert "every chain verifies" in capsys.readouterr().out
