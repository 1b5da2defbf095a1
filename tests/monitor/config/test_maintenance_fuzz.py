"""Whatever the `maintenance:` section says, parse_config answers with a Config or a ConfigError that says where.

Times are where this section can break in new ways: offsets past ±24 h, years 1 and 9999 that overflow
when converted to UTC, YAML's own timestamps and base-60 numbers (`at: 23:00`), naive and date-only
values. These properties feed windows shaped like the real thing with such values, and plain junk.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tests.monitor.config.conftest import GOOD
from tests.monitor.config.test_loader_fuzz import (
    FUZZ,
    Map,
    Node,
    Seq,
    assert_answers_cleanly,
    durations,
    ids,
    junk,
    mapping,
    numbers,
    odd_scalars,
    render,
    seq,
    texts,
    zones,
)


def iso_with_offset(moment: datetime, minutes: int, quoted: bool) -> str:
    text = moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()
    return f"'{text}'" if quoted else text


plausible_instants = st.builds(
    iso_with_offset,
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
    st.integers(-14 * 60, 14 * 60),
    st.booleans(),
)
instants = st.one_of(
    plausible_instants,
    plausible_instants,
    st.builds(
        iso_with_offset,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        st.integers(-1439, 1439),
        st.booleans(),
    ),
    st.sampled_from(
        ["2026-12-05T23:00:00-05:00", "'2026-12-05T23:00:00Z'", "2026-12-05T23:00:00", "2026-12-05", "2026-12-05 23:00",
         "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "'9999-12-31T23:59:59-14:00'", "now", "1e400",
         "2026-02-30T00:00:00Z", "'2026-12-05T23:00:00+25:00'", "2026-12-05T23:00:00+99:00", "1770000000", "''",
         "'2026-12-05T23:00:00.123456789+05:30'", "~", "[2026]", "{at: 1}", "!!timestamp 2026-12-05",
         "!!str 2026-12-05T23:00:00Z"]
    ),
    numbers,
    odd_scalars,
)  # fmt: skip
times_of_day = st.one_of(
    st.builds(lambda h, m, q: f"'{h}:{m:02d}'" if q else f"{h}:{m:02d}", st.integers(-1, 30), st.integers(0, 70),
              st.booleans()),
    st.sampled_from(["23:00", "'23:00'", "24:00", "7:5", "1380", "23:00:00", "-1:00", "+23:00", "1_0:30", "'  23:00 '",
                     "1:2:3:4:5", "99999999999:00", "'٢٣:٠٠'", "11pm", "12:00 PM", "''", "~", "[23, 0]", "23.5"]),
)  # fmt: skip
days = st.sampled_from(
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "Mon", "saturday", "on", "yes", "1", "''", "sat sun", "[sat]"]
)
component_ids = st.one_of(st.sampled_from(["pr-portal", "employer-portal", "billing", "PR-PORTAL", "''"]), ids)

every = mapping({"days": seq(days), "at": times_of_day, "duration": durations, "time_zone": zones})
window = mapping(
    {
        "id": ids,
        "title": st.one_of(st.just("Weekend batch"), texts),
        "components": seq(component_ids),
        "starts_at": instants,
        "ends_at": instants,
        "every": st.one_of(every, junk()),
        "announced_at": instants,
    }
)


def with_section(value: Node) -> str:
    return GOOD + render(Map([("maintenance", value)]))


@FUZZ
@given(st.lists(window, min_size=1, max_size=3))
def test_maintenance_shaped_yaml_is_a_config_or_a_config_error(windows: list[Map]) -> None:
    assert_answers_cleanly(with_section(Seq(list(windows))))


@FUZZ
@given(junk())
def test_anything_under_maintenance_is_a_config_or_a_config_error(value: Node) -> None:
    assert_answers_cleanly(with_section(value))


@FUZZ
@given(instants, instants, times_of_day)
def test_any_pair_of_times_in_a_well_formed_window_is_a_config_or_a_config_error(
    starts_at: str, ends_at: str, at: str
) -> None:
    text = (
        "maintenance:\n"
        "  - id: one-off\n    title: One-off\n    components: [pr-portal]\n"
        f"    starts_at: {starts_at}\n    ends_at: {ends_at}\n"
        "  - id: weekly\n    title: Weekly\n    components: [employer-portal]\n"
        f"    starts_at: {starts_at}\n"
        f"    every: {{days: [sat], at: {at}, duration: 4h, time_zone: America/Toronto}}\n"
    )
    assert_answers_cleanly(GOOD + text)


@FUZZ
@given(
    st.lists(days, max_size=8),
    times_of_day,
    st.one_of(st.just("4h"), durations),
    st.one_of(st.just("America/Toronto"), zones),
    st.one_of(st.none(), plausible_instants),
)
def test_any_weekly_rule_is_a_config_or_a_config_error(
    on: list[str], at: str, duration: str, time_zone: str, ends_at: str | None
) -> None:
    bound = "" if ends_at is None else f"    ends_at: {ends_at}\n"
    text = (
        "maintenance:\n"
        "  - id: weekly\n    title: Weekly\n    components: [pr-portal, employer-portal]\n"
        f"    every: {{days: [{', '.join(on)}], at: {at}, duration: {duration}, time_zone: {time_zone}}}\n"
        f"{bound}"
    )
    assert_answers_cleanly(GOOD + text)
