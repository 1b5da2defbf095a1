"""When a failed delivery is tried again (pure)."""

from __future__ import annotations

from datetime import timedelta

FIRST_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=10)
# A consumer that died holding a claim is given up on after this; every handler finishes well within it.
STALE_CLAIM = timedelta(minutes=2)
# After this many failed attempts ops are alerted (once per delivery); retrying goes on regardless.
ALERT_AFTER_ATTEMPTS = 5


def retry_delay(attempts: int, *, permanent: bool = False) -> timedelta:
    """Doubling from 5 s, capped at 10 minutes. An error the sender calls permanent (bad token, unknown
    channel) waits the cap straight away: it needs a person, and retrying faster would only add noise."""
    if permanent:
        return MAX_DELAY
    exponent = max(attempts - 1, 0)
    if exponent >= 20:  # 5 s × 2^20 is far past the cap; avoid building a huge number
        return MAX_DELAY
    return min(FIRST_DELAY * (2**exponent), MAX_DELAY)
