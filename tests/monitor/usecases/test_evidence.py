"""The stored check log verifies, and `verify-evidence` names the first broken link of an edited one;
large pieces (screenshots) are kept in the evidence store and checked file by file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from monitor.cli import main
from monitor.evidence.store import FileStore
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Check, EvidencePiece, ProbeState
from monitor.usecases.checks import Observed, record_check
from monitor.usecases.checks import record_checks as record_batch
from monitor.usecases.evidence import keep_attachments, verify_evidence
from probes.result import Attachment, CheckResult, ErrorClass
from tests.conftest import ONE_PROBE_CONFIG, T0, check_result, make_runtime, record_checks


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, ONE_PROBE_CONFIG, evidence_dir=str(tmp_path / "evidence"))
    yield runtime
    runtime.close()


def screenshot(n: int) -> bytes:
    """A stand-in for a PNG: what matters to the store is the bytes."""
    return b"\x89PNG\r\n\x1a\n" + f"page {n} ".encode() * 500


def failed_with_screenshot(at: datetime, png: bytes) -> CheckResult:
    """A browser check's failure as its runner returns it: the evidence names the picture by SHA-256."""
    picture = Attachment("screenshot", "image/png", png)
    return CheckResult(
        "pr-home",
        "local",
        at,
        False,
        status_code=503,
        error_class=ErrorClass.STATUS,
        error="expected a 2xx or 3xx page, got 503",
        evidence=f"probed from: local\nscreenshot: sha256:{picture.sha256} ({picture.size} bytes)\nGET /pr/",
        attachments=(picture,),
    )


def record_screenshots(runtime: Runtime, *seconds: float) -> list[CheckResult]:
    """Record failed checks with a screenshot each, as a worker does: the files first, then the rows."""
    results = []
    for n in seconds:
        at = T0 + timedelta(seconds=n)
        result = failed_with_screenshot(at, screenshot(int(n)))
        keep_attachments(runtime, [result])
        with transaction(runtime.sessions) as session:
            record_check(session, result, slot=at, grace_days=7, now=at)
        results.append(result)
    return results


def verify_through_the_command(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    config = tmp_path / "portalwatch.yaml"
    config.write_text(ONE_PROBE_CONFIG)
    monkeypatch.setenv("DATABASE_URL", runtime.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PORTALWATCH_EVIDENCE_DIR", str(runtime.settings.evidence_path))
    status = main(["verify-evidence", "--config", str(config)])
    out = capsys.readouterr()
    return status, out.out, out.err


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


def test_a_screenshot_is_kept_in_the_store_under_its_digest_and_listed_with_its_check(runtime: Runtime) -> None:
    record_checks(runtime, (0, True))
    [result] = record_screenshots(runtime, 5)
    [picture] = result.attachments
    store = runtime.evidence_store()
    assert isinstance(store, FileStore) and store.root == runtime.settings.evidence_path
    assert store.read(picture.sha256) == picture.data
    with transaction(runtime.sessions) as session:
        check = session.scalars(select(Check).where(Check.ok.is_(False))).one()
        piece = session.scalars(select(EvidencePiece)).one()
        assert (piece.check_id, piece.name, piece.content_type) == (check.id, "screenshot", "image/png")
        assert (piece.sha256, piece.size) == (picture.sha256, len(picture.data))
        assert check.evidence_sha256 == hashlib.sha256(check.evidence.encode()).hexdigest()
    report = verify_evidence(runtime)
    assert (report.intact, report.checks, report.pieces) == (True, 2, 1)


def test_a_redelivered_check_lists_its_piece_once(runtime: Runtime) -> None:
    [result] = record_screenshots(runtime, 5)
    at = T0 + timedelta(seconds=5)
    keep_attachments(runtime, [result])
    with transaction(runtime.sessions) as session:  # the same check, delivered again
        assert record_batch(session, [Observed(result, at)], grace_days=7, now=at).recorded == 0
    with transaction(runtime.sessions) as session:
        assert len(session.scalars(select(EvidencePiece)).all()) == 1
    assert verify_evidence(runtime).intact


def test_an_evidence_file_changed_by_one_byte_is_caught_by_verify_evidence(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record_checks(runtime, (0, True))
    first, second = record_screenshots(runtime, 5, 10)
    digest = second.attachments[0].sha256
    path = FileStore(runtime.settings.evidence_path).path(digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with transaction(runtime.sessions) as session:
        check = session.scalars(select(Check).where(Check.slot == T0 + timedelta(seconds=10))).one()
    status, out, err = verify_through_the_command(runtime, monkeypatch, tmp_path, capsys)
    assert status == 1
    assert "every chain verifies" in out  # the check log itself is intact: only the file changed
    assert (
        f"BROKEN: check {check.id} (probe pr-home, location local, slot {check.slot.isoformat()}), "
        f"piece screenshot (sha256:{digest}): its file's SHA-256 is {hashlib.sha256(bytes(data)).hexdigest()}, "
        f"expected {digest}" in out
    )
    assert first.attachments[0].sha256 not in out  # the intact piece is not named
    assert "1 piece(s) of evidence do not verify" in err


def test_an_evidence_file_missing_from_the_store_is_caught_by_verify_evidence(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    [result] = record_screenshots(runtime, 5)
    digest = result.attachments[0].sha256
    FileStore(runtime.settings.evidence_path).path(digest).unlink()
    status, out, _ = verify_through_the_command(runtime, monkeypatch, tmp_path, capsys)
    assert status == 1
    assert f"piece screenshot (sha256:{digest}): its file is missing from the evidence store" in out


def test_a_piece_row_pointed_at_another_intact_file_is_caught_by_its_check_s_evidence(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second = record_screenshots(runtime, 5, 10)
    with transaction(runtime.sessions) as session:  # someone makes check 2 show check 1's picture
        session.execute(
            update(EvidencePiece)
            .where(EvidencePiece.sha256 == second.attachments[0].sha256)
            .values(sha256=first.attachments[0].sha256)
        )
    status, out, _ = verify_through_the_command(runtime, monkeypatch, tmp_path, capsys)
    assert status == 1
    assert f"its check's evidence does not name it with sha256:{first.attachments[0].sha256}" in out
    report = verify_evidence(runtime)
    assert [p.sha256 for p in report.broken_pieces] == [first.attachments[0].sha256]
    assert report.broken_pieces[0].slot == T0 + timedelta(seconds=10)


def test_a_removed_piece_row_is_caught_by_the_evidence_that_names_it(runtime: Runtime) -> None:
    _, second = record_screenshots(runtime, 5, 10)
    with transaction(runtime.sessions) as session:  # someone hides check 2's picture from the ops API
        session.execute(delete(EvidencePiece).where(EvidencePiece.sha256 == second.attachments[0].sha256))
    report = verify_evidence(runtime)
    assert not report.intact and report.broken == []
    [broken] = report.broken_pieces
    assert (broken.slot, broken.name, broken.sha256) == (
        T0 + timedelta(seconds=10),
        "screenshot",
        second.attachments[0].sha256,
    )
    assert "no such piece is listed: its row was removed" in broken.problem


def test_an_edited_evidence_sha256_column_is_caught(runtime: Runtime) -> None:
    record_checks(runtime, (0, True), (5, False), (10, True))
    edited = checks(runtime)[1]
    with transaction(runtime.sessions) as session:
        session.execute(update(Check).where(Check.id == edited.id).values(evidence_sha256="0" * 64))
    report = verify_evidence(runtime)
    assert [b.check_id for b in report.broken] == [edited.id]
    assert "the stored digest was edited" in report.broken[0].problem


def test_verify_evidence_reads_pieces_in_pages(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.usecases import evidence

    monkeypatch.setattr(evidence, "PIECES_PAGE", 2)
    record_screenshots(runtime, 5, 10, 15, 20, 25)
    report = verify_evidence(runtime)
    assert (report.intact, report.pieces) == (True, 5)
