"""Letters owed by relief, on SQLite and PostgreSQL: written with the final decision, once, never for less."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import LetterKind, LetterState
from monitor.storage.models import Letter, Outage
from tests.conftest import make_runtime
from tests.exemptions.relief.test_engine import CONFIG, ENDED, FRIDAY_END, NOON, add_cases, add_outage, run, utc


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, CONFIG)
    yield runtime
    runtime.close()


def owed(runtime: Runtime, kind: LetterKind | None = LetterKind.EXTENSION) -> list[Letter]:
    with transaction(runtime.sessions) as session:
        query = select(Letter).order_by(Letter.id)
        if kind is not None:
            query = query.where(Letter.kind == kind)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def test_a_final_extension_owes_its_holder_one_letter_with_the_new_deadline(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")

    result = run(runtime, outage_id, now=ENDED + timedelta(minutes=5))

    [letter] = owed(runtime)
    assert result.letters == 2  # and a paper-filing letter: the outage lasted over four hours
    assert (letter.kind, letter.state, letter.case_id) == (LetterKind.EXTENSION, LetterState.PENDING, "A-1")
    assert letter.new_deadline == FRIDAY_END
    assert letter.outage_ids == [outage_id]
    assert letter.time_zone == "America/Toronto"
    assert letter.code is None and letter.pdf_sha256 is None  # made and signed later, outside this transaction


def test_running_relief_again_owes_nothing_more(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")
    run(runtime, outage_id, now=ENDED + timedelta(minutes=5))

    again = run(runtime, outage_id, now=ENDED + timedelta(minutes=10))

    assert again.letters == 0
    assert len(owed(runtime, None)) == 2


def test_provisional_relief_owes_no_letter_until_the_outage_has_ended(runtime: Runtime) -> None:
    started = utc(2026, 6, 12, 14, 0)
    outage_id = add_outage(
        runtime, started_at=started, last_ok_at=started, ended_at=None, last_failed_at=utc(2026, 6, 12, 16, 0)
    )
    add_cases(runtime, "A-1,pr-portal,2026-06-12T12:00:00-04:00,America/Toronto,true")

    run(runtime, outage_id, now=utc(2026, 6, 12, 16, 1))
    assert owed(runtime) == []

    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = utc(2026, 6, 12, 20, 30)
    run(runtime, outage_id, now=utc(2026, 6, 12, 20, 35))
    assert [letter.kind for letter in owed(runtime)] == [LetterKind.EXTENSION]


def test_a_later_decision_that_extends_further_owes_a_new_letter_and_one_that_gives_less_owes_none(
    runtime: Runtime,
) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")
    run(runtime, outage_id, now=ENDED + timedelta(minutes=5))

    # A correction makes the outage end a day later: the deadline moves further.
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = ENDED + timedelta(days=1)
    run(runtime, outage_id, now=ENDED + timedelta(days=1, minutes=5))
    letters = owed(runtime)
    assert len(letters) == 2
    assert letters[1].new_deadline is not None and letters[0].new_deadline is not None
    assert letters[1].new_deadline > letters[0].new_deadline

    # A correction back to the first end gives less: the deadline in force is kept, no letter for less.
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = ENDED
    run(runtime, outage_id, now=ENDED + timedelta(days=2))
    assert len(owed(runtime)) == 2


def test_a_statutory_deadline_owes_an_attestation_of_the_outage_instead(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"S-1,pr-portal,{NOON},America/Toronto,false")

    run(runtime, outage_id, now=ENDED + timedelta(minutes=5))

    [letter] = owed(runtime, LetterKind.ATTESTATION)
    assert (letter.case_id, letter.new_deadline) == ("S-1", None)


def test_a_final_paper_filing_authorisation_owes_a_letter_to_each_case_whose_deadline_falls_in_its_period(
    runtime: Runtime,
) -> None:
    outage_id = add_outage(runtime)  # 4 h 35 min: paper filing from 09:55 Wednesday until Thursday 23:59:59
    add_cases(
        runtime,
        f"IN-1,pr-portal,{NOON},America/Toronto,true",
        "IN-2,pr-portal,2026-06-11T15:00:00-04:00,America/Toronto,true",
        "LATER,pr-portal,2026-07-30T12:00:00-04:00,America/Toronto,true",
        f"OTHER,employer-portal,{NOON},America/Toronto,true",
    )

    run(runtime, outage_id, now=ENDED + timedelta(minutes=5))

    paper = owed(runtime, LetterKind.PAPER_FILING)
    assert sorted(letter.case_id or "" for letter in paper) == ["IN-1", "IN-2"]
    assert {letter.paper_until for letter in paper} == {utc(2026, 6, 12, 3, 59, 59)}
    assert all(letter.component_id == "pr-portal" for letter in paper)
