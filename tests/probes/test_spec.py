"""What the kinds share: how expected statuses are named in a check's error line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from probes.spec import describe_statuses


def test_runs_of_three_or_more_codes_are_shortened_and_the_rest_listed() -> None:
    assert describe_statuses([200]) == "200"
    assert describe_statuses([302, 200]) == "200 or 302"
    assert describe_statuses([200, 201]) == "200 or 201"
    assert describe_statuses(list(range(200, 400))) == "200-399"
    assert describe_statuses([200, 201, 202, 404, 200]) == "200-202 or 404"


@given(st.sets(st.integers(min_value=100, max_value=599), min_size=1))
def test_the_description_names_exactly_the_codes_given(codes: set[int]) -> None:
    named: set[int] = set()
    for part in describe_statuses(sorted(codes)).split(" or "):
        first, _, last = part.partition("-")
        named.update(range(int(first), int(last or first) + 1))
    assert named == codes
