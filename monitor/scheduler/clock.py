"""The scheduler's own time line: the wall clock, except that it never goes backwards (pure, no I/O).

Slots are cut from this time line, and a check is identified by (probe, location, slot): a slot
used twice is dropped by the database, and detection ignores a slot that is not after the last
one it folded. If the line followed the wall clock back after an NTP step or an operator's
mistake, every check for the length of the step would be dropped and an outage would go unseen.

So the line is max(wall clock, previous line + monotonic time elapsed since): while the wall clock
is behind, the line keeps moving on the monotonic clock, and once the wall clock catches up the
line follows it again. A forward jump is followed at once (the wall clock is then right); the
slots skipped over are not filled in, each probe just runs its current slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

# A wall clock this far behind the line has stepped back (less is jitter or a slewing NTP; the line
# still never goes back, it just isn't worth a warning).
STEP_BACK_TOLERANCE = timedelta(seconds=1)
# A wall clock this far ahead of where the monotonic clock says it should be has jumped forward.
JUMP_FORWARD_TOLERANCE = timedelta(seconds=5)


class Timeline:
    def __init__(
        self,
        wall: Callable[[], datetime],
        mono: Callable[[], float],
        *,
        step_back_tolerance: timedelta = STEP_BACK_TOLERANCE,
        jump_forward_tolerance: timedelta = JUMP_FORWARD_TOLERANCE,
    ) -> None:
        self._wall = wall
        self._mono = mono
        self._step_back_tolerance = step_back_tolerance
        self._jump_forward_tolerance = jump_forward_tolerance
        self._line: datetime | None = None
        self._line_mono = 0.0  # the monotonic reading `_line` was taken at
        self._behind = False  # the wall clock is behind the line by more than the tolerance (warned once)

    def now(self) -> datetime:
        """The scheduler's time now: never earlier than any value returned before."""
        wall = self._wall()
        mono = self._mono()
        if self._line is None:
            self._line, self._line_mono = wall, mono
            return wall
        expected = self._line + timedelta(seconds=max(mono - self._line_mono, 0.0))
        if wall >= expected:
            if wall - expected > self._jump_forward_tolerance:
                log.warning(
                    "the wall clock jumped forward %.1f s; following it (each probe runs its current slot,"
                    " the slots jumped over are not sent)",
                    (wall - expected).total_seconds(),
                )
            elif self._behind:
                log.warning("the wall clock caught up with the scheduler's time line; following it again")
            self._behind = False
            line = wall
        else:
            line = expected
            behind = expected - wall
            if behind > self._step_back_tolerance and not self._behind:
                log.warning(
                    "the wall clock is %.1f s behind the scheduler's time line (it stepped back); slots keep"
                    " moving forward on the monotonic clock until the wall clock catches up",
                    behind.total_seconds(),
                )
                self._behind = True
        self._line, self._line_mono = line, mono
        return line

    def raise_to(self, floor: datetime, *, why: str) -> datetime:
        """Never run before `floor` (a slot already used): returns the line, moved up to it if it was earlier."""
        line = self.now()
        if floor <= line:
            return line
        ahead = floor - self._wall()
        if ahead > self._step_back_tolerance:
            log.warning(
                "%s %s, %.1f s ahead of the wall clock; the scheduler's time line goes on from there so no slot"
                " is used twice",
                why,
                floor.isoformat(),
                ahead.total_seconds(),
            )
            self._behind = True  # already said; the step-back warning would only repeat it
        self._line = floor  # `_line_mono` stays: the line runs on from the floor at the monotonic pace
        return floor
