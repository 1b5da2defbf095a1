"""Issuing letters, on SQLite and PostgreSQL: each owed letter signed and stored exactly once, whatever jobs
die or run side by side; a later letter supersedes an earlier one without taking its code away."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import LetterKind, LetterState
from monitor.storage.models import Letter, Outage
from monitor.usecases import letters
from tests.conftest import make_runtime
from tests.exemptions.relief.test_engine import CONFIG, ENDED, NOON, add_cases, add_outage, run


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, CONFIG)
    runtime.clock = lambda: ENDED + timedelta(minutes=5)
    yield runtime
    runtime.close()


def all_letters(runtime: Runtime, kind: LetterKind | None = None) -> list[Letter]:
    with transaction(runtime.sessions) as session:
        query = select(Letter).order_by(Letter.id)
        if kind is not None:
            query = query.where(Letter.kind == kind)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def owe(runtime: Runtime, cases: int = 3) -> int:
    outage_id = add_outage(runtime)
    add_cases(runtime, *(f"A-{n},pr-portal,{NOON},America/Toronto,true" for n in range(cases)))
    run(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    return outage_id


def test_every_owed_letter_is_signed_stored_and_findable_by_its_code(runtime: Runtime) -> None:
    owe(runtime)

    issued = letters.issue_letters(runtime)

    rows = all_letters(runtime)
    assert issued == len(rows) == 6  # an extension and a paper-filing letter for each of the three cases
    assert all(row.state is LetterState.ISSUED and row.code and row.pdf_sha256 for row in rows)
    assert len({row.code for row in rows}) == 6
    with transaction(runtime.sessions) as session:
        for row in rows:
            assert row.code is not None
            pdf = letters.letter_pdf(session, row.code)
            assert pdf is not None
            assert runtime.signer().validate(pdf).genuine
            assert letters.check_file(runtime, session, pdf).genuine
    assert letters.issue_letters(runtime) == 0  # nothing left


def test_a_job_that_died_after_claiming_leaves_its_letters_to_the_next_job_and_nothing_is_issued_twice(
    runtime: Runtime,
) -> None:
    owe(runtime, cases=1)
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        claimed = letters._claim(session, token="dead-job", now=now, limit=10)
    assert len(claimed) == 2

    assert letters.issue_letters(runtime) == 0  # held by the dead job: not yet stale

    runtime.clock = lambda: now + letters.STALE_CLAIM + timedelta(seconds=1)
    assert letters.issue_letters(runtime) == 2
    # The dead job coming back to life cannot store its own copy over the issued letter.
    with transaction(runtime.sessions) as session:
        result = session.execute(
            update(Letter)
            .where(Letter.claim_token == "dead-job", Letter.state == LetterState.PENDING)
            .values(state=LetterState.ISSUED)
        )
        assert result.rowcount == 0  # type: ignore[attr-defined]
    assert len({row.code for row in all_letters(runtime)}) == 2


def test_jobs_running_side_by_side_share_the_work_and_issue_each_letter_once(runtime: Runtime) -> None:
    owe(runtime, cases=12)
    counts: list[int] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            total = 0
            while issued := letters.issue_letters(runtime, limit=3):
                total += issued
            counts.append(total)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    rows = all_letters(runtime)
    assert not errors, errors
    assert sum(counts) == len(rows) == 24
    assert all(row.state is LetterState.ISSUED for row in rows)
    assert len({row.code for row in rows}) == 24


def test_a_later_letter_that_gives_more_supersedes_the_earlier_which_still_verifies(runtime: Runtime) -> None:
    outage_id = owe(runtime, cases=1)
    letters.issue_letters(runtime)
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = ENDED + timedelta(days=1)
    run(runtime, outage_id, now=ENDED + timedelta(days=1, minutes=5))
    letters.issue_letters(runtime)

    first, second = all_letters(runtime, LetterKind.EXTENSION)
    assert first.superseded_by == second.code and second.superseded_by is None
    assert first.new_deadline is not None and second.new_deadline is not None
    assert second.new_deadline > first.new_deadline
    with transaction(runtime.sessions) as session:
        assert first.code is not None
        old = letters.find(session, first.code)
        assert old is not None
        shown = letters.verification_json(session, old, runtime.config.page)
        # The public path reads the same answer in one statement, whatever case the code is typed in.
        assert letters.verification(session, first.code.lower(), runtime.config.page) == shown
        assert letters.verification(session, "0" * 13, runtime.config.page) is None
        assert letters.verification(session, "not a code", runtime.config.page) is None
    assert shown["valid"] is True and shown["superseded_by"] == second.code
    assert shown["component"] is not None and shown["component"]["name"] != shown["component"]["id"]
    # The authorisation's period grew too: its letter is replaced by the longer one, per case.
    paper = all_letters(runtime, LetterKind.PAPER_FILING)
    assert [row.superseded_by is not None for row in paper] == [True, False]


def test_letters_signed_out_of_order_still_leave_only_the_newest_in_force(runtime: Runtime) -> None:
    outage_id = owe(runtime, cases=1)
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = ENDED + timedelta(days=1)
    run(runtime, outage_id, now=ENDED + timedelta(days=1, minutes=5))
    older, newer = all_letters(runtime, LetterKind.EXTENSION)

    assert letters.issue_one(runtime, newer.id) is not None  # the newer one first, as a faster job might
    assert letters.issue_one(runtime, older.id) is not None

    older, newer = all_letters(runtime, LetterKind.EXTENSION)
    assert older.superseded_by == newer.code and newer.superseded_by is None


def test_a_letter_that_cannot_be_made_is_reported_with_its_error_and_the_rest_are_issued(runtime: Runtime) -> None:
    owe(runtime, cases=2)
    with transaction(runtime.sessions) as session:
        broken = session.scalars(select(Letter).order_by(Letter.id).limit(1)).one()
        broken.time_zone = "Mars/Olympus_Mons"  # a zone no letter can show dates in
        broken_id = broken.id

    issued = letters.issue_letters(runtime)

    report = letters.letters_report(runtime)
    assert issued == 3
    assert report["pending"] == 1 and report["issued"] == 3
    [failing] = report["failing"]
    assert failing["id"] == broken_id and "Mars/Olympus_Mons" in failing["last_error"]
