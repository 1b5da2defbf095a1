"""Paper filing: when a component has been down long enough, people may file on paper instead.

Unlike the deadline rules this is decided per component, not per case, and in the status page's
time zone, not the case's: it is one public notice ("paper filing is authorised for the permanent
residence portal from … until …"), the same for everyone.

A counted outage that has lasted `paper_after_hours` authorises paper filing from the outage's
start (people who tried and failed then are covered too) until 23:59:59 of the first accessible
business day after it ended, judged on that component's own downtime. While the outage is still
open the period has no end yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from exemptions.policy.calendar import business_calendar, day_end, end_of_day, local_day, zone
from exemptions.policy.model import PaperPeriod, ReliefPolicy, Rule, Span
from exemptions.policy.rules import search_accessible_day, union_of


def paper_periods(spans: Sequence[Span], policy: ReliefPolicy, time_zone: str) -> list[PaperPeriod]:
    """One period per counted outage of one component long enough to authorise paper filing, by start.

    `spans` are that component's counted spans; `time_zone` is the status page's. Periods of
    consecutive outages may overlap: each is the notice one outage earned, kept apart so each cites
    its own outage.
    """
    if Rule.PAPER_FILING not in policy.rules or not spans:
        return []
    components = sorted({span.component_id for span in spans})
    if len(components) > 1:
        raise ValueError(f"paper filing is decided per component, not for {', '.join(components)} together")
    component_id = components[0]
    calendar = business_calendar(policy.calendar)
    zone(time_zone)
    long_enough = timedelta(hours=policy.paper_after_hours)
    threshold = timedelta(minutes=policy.min_minutes)
    union = union_of(spans)

    periods: list[PaperPeriod] = []
    for piece in union.pieces:
        if piece.end - piece.start < long_enough:
            continue
        refs = {ref for member in piece.members for ref in member.refs}
        if piece.open:
            periods.append(PaperPeriod(component_id, piece.start, None, tuple(sorted(refs)), final=False))
            continue
        found = search_accessible_day(
            local_day(piece.end, time_zone) + timedelta(days=1), time_zone, union, calendar, threshold
        )
        # Days skipped for later outages, and later outages still open, decide the end too.
        rested = [*found.rested, *union.open_between(piece.end, day_end(found.day, time_zone))]
        refs.update(ref for span in rested for ref in span.refs)
        periods.append(
            PaperPeriod(
                component_id,
                piece.start,
                end_of_day(found.day, time_zone),
                tuple(sorted(refs)),
                final=not any(span.open for span in rested),
            )
        )
    return periods
