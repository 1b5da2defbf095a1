"""Retention drops the evidence of old passing checks, keeps what outages rest on, and the log still verifies."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from monitor.cli import main
from monitor.config import parse_config
from monitor.evidence.store import FileStore
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import OutageSource, Severity
from monitor.storage.models import Check, EvidencePiece, Outage
from monitor.usecases import jobs
from monitor.usecases.checks import record_check
from monitor.usecases.evidence import keep_attachments, verify_evidence
from monitor.usecases.retention import prune_checks
from probes.result import Attachment, CheckResult, ErrorClass
from tests.conftest import ONE_PROBE_CONFIG, T0, make_runtime
from tests.conftest import record_checks as record_at

BASE = T0 - timedelta(days=400)  # long ago on the wall clock too, which the command runs on
NOW = BASE + timedelta(days=40)  # retention's default, 30 days, reaches back to BASE + 10 days
OLD_PICTURE = b"\x89PNG old passing page " * 200
SHARED_PICTURE = b"\x89PNG the same page, failing and passing " * 200


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, ONE_PROBE_CONFIG, evidence_dir=str(tmp_path / "evidence"))
    runtime.clock = lambda: NOW
    yield runtime
    runtime.close()


def record_checks(runtime: Runtime, *checks: tuple[float, bool], t0: datetime = BASE) -> None:
    record_at(runtime, *checks, t0=t0)


def with_picture(seconds: float, ok: bool, png: bytes) -> CheckResult:
    at = BASE + timedelta(seconds=seconds)
    picture = Attachment("screenshot", "image/png", png)
    return CheckResult(
        "pr-home",
        "local",
        at,
        ok,
        status_code=200 if ok else 503,
        error_class=None if ok else ErrorClass.STATUS,
        error=None if ok else "expected a 2xx or 3xx page, got 503",
        evidence=f"probed from: local\nscreenshot: sha256:{picture.sha256} ({picture.size} bytes)",
        attachments=(picture,),
    )


def record(runtime: Runtime, *results: CheckResult) -> None:
    for result in results:
        keep_attachments(runtime, [result])
        with transaction(runtime.sessions) as session:
            record_check(session, result, slot=result.started_at, grace_days=7, now=result.started_at)


def by_second(runtime: Runtime) -> dict[float, Check]:
    with transaction(runtime.sessions) as session:
        return {(c.started_at - BASE).total_seconds(): c for c in session.scalars(select(Check).order_by(Check.id))}


def age_every_file(runtime: Runtime) -> None:
    """As if the pieces had been written long ago (a file written in the last hour is never removed)."""
    for path in Path(runtime.settings.evidence_path).rglob("*"):
        if path.is_file():
            os.utime(path, (1_000_000, 1_000_000))


@pytest.fixture
def history(runtime: Runtime) -> Runtime:
    """Old passing checks, one with a picture of its own; an outage (3605–3615 s) with a good check on each
    side; a declared outage (7200–7260 s); a recent passing check."""
    record_checks(runtime, (0, True), (5, True))
    record(runtime, with_picture(10, True, OLD_PICTURE))
    record_checks(runtime, (3595, True), (3600, True), (3605, False), (3610, False), (3615, True), (3620, True))
    record_checks(runtime, (3625, True))
    record(runtime, with_picture(3630, False, SHARED_PICTURE), with_picture(3635, True, SHARED_PICTURE))
    record_checks(runtime, (7190, True), (7200, True), (7230, True), (7265, True), (7270, True))
    with transaction(runtime.sessions) as session:
        session.add(
            Outage(
                component_id="pr-portal",
                source=OutageSource.DECLARED,
                reason="the operator reports uploads failing",
                severity=Severity.PARTIAL_OUTAGE,
                started_at=BASE + timedelta(seconds=7200),
                ended_at=BASE + timedelta(seconds=7260),
                detected_at=BASE + timedelta(seconds=7300),
            )
        )
    record_checks(runtime, (0, True), t0=NOW - timedelta(days=1))
    age_every_file(runtime)
    return runtime


PRUNED = {0, 5, 10, 3595, 3625, 3635, 7190, 7270}
# 3600 and 3620: one interval (5 s) either side of the observed outage; 3630: failed; 7200–7265: the
# declared outage widened by an interval; the recent check: younger than 30 days.
KEPT_PASSING = {3600, 3615, 3620, 7200, 7230, 7265}


def test_old_passing_checks_lose_their_evidence_and_what_outages_rest_on_is_kept(history: Runtime) -> None:
    before = by_second(history)
    report = prune_checks(history)
    assert report.cutoff == NOW - timedelta(days=30)
    assert (report.checks, report.pieces, report.files) == (len(PRUNED), 2, 1)
    after = by_second(history)
    assert len(after) == len(before)  # rows stay: the chain goes on through them
    for second, check in after.items():
        was = before[second]
        assert check.evidence_sha256 == hashlib.sha256(was.evidence.encode()).hexdigest()
        if second in PRUNED:
            assert (check.evidence, check.evidence_pruned_at) == ("", NOW), second
        else:
            assert (check.evidence, check.evidence_pruned_at) == (was.evidence, None), second
    assert {s for s, c in after.items() if c.ok and c.evidence_pruned_at is None} >= KEPT_PASSING
    assert not any(c.evidence_pruned_at for c in after.values() if not c.ok)  # failed checks keep theirs

    store = FileStore(history.settings.evidence_path)
    old, shared = hashlib.sha256(OLD_PICTURE).hexdigest(), hashlib.sha256(SHARED_PICTURE).hexdigest()
    assert store.check(old) is not None  # no piece needs it any more: removed
    assert store.check(shared) is None  # the failed check at 3630 still lists the same picture
    with transaction(history.sessions) as session:
        pieces = session.execute(select(EvidencePiece.check_id, EvidencePiece.sha256)).all()
    assert [tuple(p) for p in pieces] == [(after[3630].id, shared)]

    verified = verify_evidence(history)
    assert (verified.intact, verified.pruned, verified.pieces) == (True, len(PRUNED), 1)


def test_pruning_again_changes_nothing(history: Runtime) -> None:
    prune_checks(history)
    before = {s: (c.evidence, c.evidence_pruned_at, c.evidence_sha256) for s, c in by_second(history).items()}
    history.clock = lambda: NOW + timedelta(minutes=10)
    again = prune_checks(history)
    assert (again.checks, again.pieces, again.files) == (0, 0, 0)
    assert {s: (c.evidence, c.evidence_pruned_at, c.evidence_sha256) for s, c in by_second(history).items()} == before


def test_pruning_goes_in_batches_until_nothing_is_left(history: Runtime) -> None:
    report = prune_checks(history, batch=3)
    assert report.checks == len(PRUNED)
    assert report.batches == len(PRUNED) // 3 + 1
    assert verify_evidence(history).intact


def test_the_periodic_job_prunes_too(history: Runtime) -> None:
    assert jobs.run(history, jobs.PRUNE_CHECKS, ()) == len(PRUNED)
    assert jobs.run(history, jobs.PRUNE_CHECKS, ()) == 0


def test_a_job_stops_at_its_budget_and_the_next_one_goes_on(history: Runtime) -> None:
    first = prune_checks(history, batch=2, budget_seconds=0)
    assert (first.checks, first.finished) == (2, False)
    assert prune_checks(history, batch=2).checks == len(PRUNED) - 2


def test_checks_recorded_before_their_evidence_sha256_was_kept_get_it_when_pruned(history: Runtime) -> None:
    before = by_second(history)
    with transaction(history.sessions) as session:
        session.execute(update(Check).values(evidence_sha256=None))  # as every check recorded before 0008
    assert verify_evidence(history).intact
    prune_checks(history)
    after = by_second(history)
    for second in PRUNED:
        assert after[second].evidence_sha256 == hashlib.sha256(before[second].evidence.encode()).hexdigest()
    assert after[3630].evidence_sha256 is None  # kept evidence: the text itself still says
    assert verify_evidence(history).intact


def test_retention_off_keeps_everything(database_url: str, tmp_path: Path) -> None:
    config = parse_config(ONE_PROBE_CONFIG + "retention: {passing_checks: off}\n", source="test.yaml")
    runtime = make_runtime(database_url, config, evidence_dir=str(tmp_path / "evidence"))
    runtime.clock = lambda: NOW
    try:
        record_checks(runtime, (0, True), (5, True))
        report = prune_checks(runtime)
        assert (report.cutoff, report.checks) == (None, 0)
        assert all(c.evidence_pruned_at is None for c in by_second(runtime).values())
    finally:
        runtime.close()


def test_a_shorter_period_prunes_more(database_url: str, tmp_path: Path) -> None:
    config = parse_config(ONE_PROBE_CONFIG + "retention: {passing_checks: 2d}\n", source="test.yaml")
    runtime = make_runtime(database_url, config, evidence_dir=str(tmp_path / "evidence"))
    runtime.clock = lambda: NOW
    try:
        record_checks(runtime, (0, True), t0=NOW - timedelta(days=3))
        record_checks(runtime, (0, True), t0=NOW - timedelta(days=1))
        assert prune_checks(runtime).checks == 1
    finally:
        runtime.close()


def run_command(runtime: Runtime, command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    config = tmp_path / "portalwatch.yaml"
    config.write_text(ONE_PROBE_CONFIG)
    monkeypatch.setenv("DATABASE_URL", runtime.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PORTALWATCH_EVIDENCE_DIR", str(runtime.settings.evidence_path))
    return main([command, "--config", str(config)])


def test_the_command_prunes_says_what_it_did_and_verify_evidence_still_exits_0(
    history: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The command runs on the wall clock: the history is years old to it, the recent check too.
    assert run_command(history, "prune-checks", monkeypatch, tmp_path) == 0
    out = capsys.readouterr().out
    assert f"dropped the evidence of {len(PRUNED) + 1} passing check(s) that started before" in out
    assert "removed 2 piece(s) and 1 file(s) from the evidence store" in out
    assert run_command(history, "prune-checks", monkeypatch, tmp_path) == 0
    assert "dropped the evidence of 0 passing check(s)" in capsys.readouterr().out
    assert run_command(history, "verify-evidence", monkeypatch, tmp_path) == 0
    out = capsys.readouterr().out
    assert "every chain verifies" in out and f"{len(PRUNED) + 1} passing with their evidence text pruned" in out


def test_a_pruned_check_whose_kept_sha256_is_edited_is_caught(
    history: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    prune_checks(history)
    edited = by_second(history)[3625]
    forged = hashlib.sha256(b"a different evidence text").hexdigest()
    with transaction(history.sessions) as session:
        session.execute(update(Check).where(Check.id == edited.id).values(evidence_sha256=forged))
    assert run_command(history, "verify-evidence", monkeypatch, tmp_path) == 1
    out = capsys.readouterr().out
    assert f"BROKEN: check {edited.id} (probe pr-home, location local" in out
    assert "a field of this check was edited" in out


def test_an_outage_still_open_keeps_the_checks_of_its_component_up_to_now(runtime: Runtime) -> None:
    record_checks(runtime, (0, True), (5, True), (10, False), (15, False), (20, True))  # one success: still open
    with transaction(runtime.sessions) as session:
        assert session.scalars(select(Outage.ended_at)).one() is None
    assert prune_checks(runtime).checks == 1
    checks = by_second(runtime)
    assert checks[0].evidence_pruned_at == NOW  # before [10 s − 5 s, now + 5 s]
    assert checks[5].evidence_pruned_at is None and checks[20].evidence_pruned_at is None


def test_a_passing_check_right_before_an_outage_window_is_pruned(runtime: Runtime) -> None:
    record_checks(runtime, (0, True), (4, True), (5, True), (10, False), (15, False), (20, True), (25, True))
    prune_checks(runtime)
    checks = by_second(runtime)
    # The outage starts at its first failed check, 10 s; its window opens one interval (5 s) earlier.
    assert checks[0].evidence_pruned_at == NOW and checks[4].evidence_pruned_at == NOW
    assert checks[5].evidence_pruned_at is None
