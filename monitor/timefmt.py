"""Showing stored UTC times to people: in a named zone, with that zone visible."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def local(value: datetime, zone: str) -> str:
    """`2026-11-22 09:15 EST` — the zone abbreviation makes clear which clock is meant."""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def iso(value: datetime | None, zone: str | None = None) -> str | None:
    """ISO 8601 with offset: UTC's as stored, or, given a zone, that zone's offset at that instant."""
    if value is None:
        return None
    return value.isoformat() if zone is None else value.astimezone(ZoneInfo(zone)).isoformat()


def duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = " ".join(p for p in parts if p)
    if days or hours or (minutes and not seconds):
        return text  # "15m", not "15m 0s"
    return f"{text} {seconds}s".strip()


# --- moments as people say them, in English and in Canadian French ---------------------------------
# Written out rather than taken from strftime's %A/%B, which follow the process locale: a server set to
# C or en_US would otherwise write English month names into the French half.

NBSP = "\u00a0"  # French puts a non-breaking space before a colon, inside « guillemets » and in `10 h 30`
_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
}
# The abbreviations Canadian French uses for the North American zones (HNE: heure normale de l'Est).
_FRENCH_ZONES = {
    "NST": "HNT",
    "NDT": "HAT",
    "AST": "HNA",
    "ADT": "HAA",
    "EST": "HNE",
    "EDT": "HAE",
    "CST": "HNC",
    "CDT": "HAC",
    "MST": "HNR",
    "MDT": "HAR",
    "PST": "HNP",
    "PDT": "HAP",
}


def _zone_abbreviation(moment: datetime, lang: str) -> str:
    name = moment.tzname() or ""
    if name and name[0] not in "+-":
        return _FRENCH_ZONES.get(name, name) if lang == "fr" else name
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def spoken(moment: datetime, zone: str, lang: str) -> str:
    """An aware moment as a reader says it, in `zone` with the zone's abbreviation: "Friday, November 20,
    2026, 10:00 a.m. EST" or "vendredi 20 novembre 2026, 10 h 00 HNE" (seconds only when there are some;
    a zone with no abbreviation is shown as its offset, `UTC-03:00`). Any `lang` but "fr" is English."""
    moment = moment.astimezone(ZoneInfo(zone))
    french = lang == "fr"
    weekday = _WEEKDAYS["fr" if french else "en"][moment.weekday()]
    month = _MONTHS["fr" if french else "en"][moment.month - 1]
    abbreviation = _zone_abbreviation(moment, lang)
    if french:
        day = "1er" if moment.day == 1 else str(moment.day)
        clock = f"{moment.hour}{NBSP}h{NBSP}{moment.minute:02d}"
        if moment.second:
            clock += f"{NBSP}min{NBSP}{moment.second:02d}{NBSP}s"
        return f"{weekday} {day} {month} {moment.year}, {clock} {abbreviation}"
    hour = moment.hour % 12 or 12
    clock = f"{hour}:{moment.minute:02d}" + (f":{moment.second:02d}" if moment.second else "")
    meridiem = "a.m." if moment.hour < 12 else "p.m."
    return f"{weekday}, {month} {moment.day}, {moment.year}, {clock}{NBSP}{meridiem} {abbreviation}"
