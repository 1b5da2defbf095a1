"""Which scheduler may send: one leader at a time, and where the latest slot issued is kept.

Distributed mode runs `python -m monitor scheduler` as its own service, and two of them (a rolling
deploy, a second replica, a stuck process that came back) would both send every check and every
periodic job. `RedisLeadership` lets only the holder of a Redis lock send; the others stand by and
take over within about the lock's TTL when the holder dies without releasing it (kill -9, a lost
host). Next to the lock it keeps the high-water mark: the latest slot time any leader issued, so
a new leader, whatever its own wall clock says, never issues a slot that was already used.

Embedded mode (`serve` without Redis) has exactly one scheduler, in the serving process, and
nothing to share a lock through: `Alone` always leads.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import LockNotOwnedError, RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)

KEY_PREFIX = "portalwatch:scheduler"  # the lock is `<prefix>:leader`, the high-water mark `<prefix>:high_water`
LOCK_TTL = 15.0  # seconds: how long a dead leader blocks a standby
# Below the renewal period: a hanging Redis call is a failed renewal, not a tick that outlives the lock.
REDIS_TIMEOUT = 2.0

# Raise the high-water mark only while holding the lock, in one step: a leader that lost the lock
# (it froze past the TTL, Redis was restarted) finds out here, before it sends the slots.
_RAISE_HIGH_WATER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) > current then
    redis.call('SET', KEYS[2], ARGV[2])
end
return 1
"""


class Leadership(Protocol):
    @property
    def term(self) -> int:
        """Goes up each time leadership is taken; the scheduler re-reads its floors when it changes."""
        ...

    @property
    def leading(self) -> bool:
        """Whether this scheduler led at its last `lead()`; no Redis call."""
        ...

    def lead(self) -> bool:
        """Whether this scheduler may send now; renews or tries to take leadership as due. Never raises."""
        ...

    def high_water(self) -> datetime | None:
        """The latest slot issued by any leader, as read when leadership was last taken."""
        ...

    def record_high_water(self, slot: datetime) -> bool:
        """Record that slots up to `slot` are about to be sent; False (and no longer leading) if that failed."""
        ...

    def close(self) -> None:
        """Give leadership up, so a standby takes over now rather than after the TTL."""
        ...


class Alone:
    """Embedded mode: one scheduler per process and no Redis to share a lock through, so no lock is needed.

    Its high-water mark is the database's latest recorded slot, which the scheduler reads at start-up.
    """

    term = 1
    leading = True

    def lead(self) -> bool:
        return True

    def high_water(self) -> datetime | None:
        return None

    def record_high_water(self, slot: datetime) -> bool:
        return True

    def close(self) -> None:
        pass


class RedisLeadership:
    """Leadership through a redis-py `Lock` with a TTL, renewed every `renew_every` seconds.

    Only the lock's token proves leadership: renewals and high-water writes check it atomically in
    Redis, and any failure (the token is gone, Redis cannot be reached) makes this scheduler stop
    sending at once. A standby tries to take the lock on each call; a Redis outage is logged once
    and never raised, so the scheduler loop outlives a Redis restart and leads again afterwards.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = KEY_PREFIX,
        ttl: float = LOCK_TTL,
        renew_every: float | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.lock_name = f"{prefix}:leader"
        self.high_water_key = f"{prefix}:high_water"
        self.ttl = ttl
        # Renewal well inside the TTL: a tick that runs late still renews long before the lock can expire.
        self.renew_every = ttl / 3 if renew_every is None else renew_every
        if not 0 < self.renew_every < ttl:
            raise ValueError(f"renewals every {self.renew_every} s cannot keep a {ttl} s lock")
        self._mono = mono
        # Not thread-local: the token belongs to this scheduler, whichever thread happens to tick it.
        self._lock = client.lock(self.lock_name, timeout=ttl, blocking=False, thread_local=False)
        self._raise_high_water = client.register_script(_RAISE_HIGH_WATER)
        self._term = 0
        self._leading = False
        self._renewed_at = 0.0  # monotonic time a renewal was *sent*: the lock lives at least ttl from then
        self._high_water: datetime | None = None
        self._recorded_ms = 0
        self._redis_down = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLeadership:
        # No retries and short timeouts: redis-py's defaults (10 retries of 5 s) would let one renewal
        # outlast the lock it renews, while this scheduler went on believing it leads.
        client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
        return cls(client, **kwargs)

    @property
    def term(self) -> int:
        return self._term

    @property
    def leading(self) -> bool:
        return self._leading

    def lead(self) -> bool:
        started = self._mono()
        try:
            if self._leading:
                if started - self._renewed_at < self.renew_every:
                    return True
                self._lock.reacquire()  # resets the TTL, only if the token is still ours
                self._renewed_at = started
                return True
            if not self._take():
                self._redis_reachable()
                return False
            self._read_high_water()
        except LockNotOwnedError:
            self._forget_token()
            self._step_down("the lock expired or was taken by another scheduler (renewal too late, Redis restarted)")
            return False
        except (RedisError, OSError) as exc:
            if self._leading:
                self._step_down(f"Redis cannot be reached ({exc})")
            elif not self._redis_down:
                log.warning("scheduler standby: Redis cannot be reached, will keep trying to lead (%s)", exc)
            self._redis_down = True
            return False
        self._redis_reachable()
        self._leading = True
        self._renewed_at = started
        self._term += 1
        log.info("became the scheduler leader (lock %s, TTL %.0f s); sending checks", self.lock_name, self.ttl)
        return True

    def _take(self) -> bool:
        if self._lock.local.token is not None:
            # Leadership was dropped after a failed call, but the lock may still be ours (a brief
            # network hiccup): nobody else can have held it while our token is still in it.
            try:
                return self._lock.reacquire()
            except LockNotOwnedError:
                self._forget_token()
        return bool(self._lock.acquire(blocking=False))

    def _read_high_water(self) -> None:
        raw = self.client.get(self.high_water_key)
        ms = int(cast(bytes, raw)) if raw is not None else 0
        self._recorded_ms = ms
        self._high_water = datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None

    def high_water(self) -> datetime | None:
        return self._high_water

    def record_high_water(self, slot: datetime) -> bool:
        if not self._leading:
            return False
        ms = int(slot.timestamp() * 1000)
        if ms <= self._recorded_ms:
            return True
        try:
            held = self._raise_high_water(keys=[self.lock_name, self.high_water_key], args=[self._lock.local.token, ms])
        except (RedisError, OSError) as exc:
            self._redis_down = True
            self._step_down(f"Redis cannot be reached ({exc})")
            return False
        if not held:
            self._forget_token()
            self._step_down("the lock is no longer ours")
            return False
        self._recorded_ms = ms
        return True

    def close(self) -> None:
        if self._lock.local.token is None:
            return
        # Not ours any more, or Redis is away: the TTL frees it for the standby either way.
        with contextlib.suppress(RedisError, OSError):
            self._lock.release()
        if self._leading:
            log.info("gave up scheduler leadership (lock %s)", self.lock_name)
        self._leading = False

    def _step_down(self, why: str) -> None:
        if self._leading:
            log.warning("lost scheduler leadership: %s; stopped sending, standing by", why)
        self._leading = False

    def _forget_token(self) -> None:
        self._lock.local.token = None

    def _redis_reachable(self) -> None:
        if self._redis_down:
            log.info("scheduler: Redis can be reached again")
        self._redis_down = False
