"""Reading the dashboard's form fields into what the desk's use cases take (which check them again).

Times come as ISO 8601 with an offset, or as a browser's `datetime-local` value (no offset): the wall
clock of the page's time zone, which every form states. A wall-clock time the zone skips (clocks go
forward) or shows twice (clocks go back) is refused, naming the field: which instant was meant cannot
be guessed for an outage's bounds, so the person gives the offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitor.usecases.outages import InvalidInput

MAX_FIELD = 5000  # longer than any field the use cases accept: they say what the limit is


def text(form: Mapping[str, str], name: str) -> str:
    return form.get(name, "")[:MAX_FIELD]


def optional(form: Mapping[str, str], name: str) -> str | None:
    """The field's text, or None when it was left empty."""
    value = text(form, name).strip()
    return value or None


def form_instant(value: str | None, zone: str, field: str) -> datetime | None:
    """An aware UTC datetime from a form field, None for an empty one; InvalidInput naming `field` otherwise."""
    if value is None or not value.strip():
        return None
    written = value.strip()
    try:
        moment = datetime.fromisoformat(written.replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput(
            field, f"{written[:40]!r} is not a date and time; write 2026-11-20T09:30 ({zone}) or with an offset"
        ) from None
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    tz = ZoneInfo(zone)
    first = moment.replace(tzinfo=tz).astimezone(UTC)
    second = moment.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) != moment:
        raise InvalidInput(field, f"{written} does not exist in {zone} (the clocks skip it); give the offset")
    if first != second:
        raise InvalidInput(
            field,
            f"{written} happens twice in {zone} (the clocks go back); give the offset, such as "
            f"{first.astimezone(tz).isoformat()} or {second.astimezone(tz).isoformat()}",
        )
    return first
