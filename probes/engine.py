"""Many checks at once in one process: an event loop on a thread of its own, shared by every batch.

A worker hands a batch of checks to `ProbeEngine.stream` and gets the results back in groups as they
complete, so it can record the fast ones while a hung target is still being waited for. Each check
is bounded by its own deadline (the spec's timeout, enforced inside the kind's runner, and a
backstop here), so a target that never answers delays nobody but itself.

One loop and one HTTP connection pool per process: checks of the same portal reuse keep-alive
connections instead of paying a TCP (and TLS) handshake each, and no thread or session is made per
check. The loop is started on first use, so a process that forks (a prefork worker) starts its own
after the fork, never sharing one across it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import aiohttp

from probes.identity import agent_for, identified
from probes.registry import run_probe_async
from probes.result import CheckResult, ErrorClass, judged
from probes.spec import ProbeSpecBase

log = logging.getLogger(__name__)

T = TypeVar("T")

# How much later than its own timeout a check is abandoned if its runner failed to stop itself; the
# runner's own deadline should always come first, this only keeps a defect from holding a batch forever.
BACKSTOP_SECONDS = 5.0
# How long a finished check waits for others to finish with it, so results are recorded in groups
# (one transaction each) rather than one by one, without holding a fast result back noticeably.
GROUP_WINDOW_SECONDS = 0.05


class ProbeEngine(Generic[T]):
    """Runs checks concurrently on one event loop; `stream` may be called from any number of threads."""

    def __init__(
        self,
        *,
        concurrency: int = 1000,
        session_factory: Callable[[], Awaitable[aiohttp.ClientSession]] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self._session_factory = session_factory
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        running = self._thread is not None and self._thread.is_alive()
        return f"ProbeEngine(concurrency={self.concurrency}, running={running})"

    # --- the loop's life ----------------------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self._thread is not None and self._thread.is_alive():
                return self._loop
            loop = asyncio.new_event_loop()
            ready: Future[None] = Future()
            thread = threading.Thread(target=self._serve, args=(loop, ready), name="probe-engine", daemon=True)
            thread.start()
            ready.result(timeout=30)  # the session is made on the loop: wait for it, and see its failure
            self._loop, self._thread = loop, thread
            return loop

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            self._session = loop.run_until_complete(self._new_session())
            self._slots = asyncio.Semaphore(self.concurrency)
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _new_session(self) -> aiohttp.ClientSession:
        if self._session_factory is not None:
            return await self._session_factory()
        from probes.http.aio import new_session  # the http kind's pool: the only kind with one so far

        return new_session()

    async def _shutdown(self) -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        browser = sys.modules.get("probes.browser.runner")
        if browser is not None:  # only if a browser check ran in this process: never start one to close it
            await browser.close_browser()

    def close(self) -> None:
        """Stop the loop, cancelling checks still running; the engine starts again if used afterwards."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)

    # --- running checks -----------------------------------------------------------------------------

    def stream(
        self, items: Sequence[tuple[T, ProbeSpecBase]], location: str, *, agent: str | None = None
    ) -> Iterator[list[tuple[T, CheckResult]]]:
        """Run every (tag, spec) from `location` at once; yield (tag, result) pairs in groups as they finish.

        `agent` is the User-Agent its requests send (probes.identity).

        Every item yields exactly one result: a runner that raises, or outlives its own deadline by
        BACKSTOP_SECONDS, gives a failed result that says so.
        """
        if not items:
            return
        loop = self._start()
        finished: queue.SimpleQueue[tuple[T, CheckResult]] = queue.SimpleQueue()
        # One hand-over to the loop for the whole batch, not one per check.
        asyncio.run_coroutine_threadsafe(self._run_all(items, location, finished, agent), loop)
        remaining = len(items)
        while remaining:
            group = [finished.get()]
            until = time.monotonic() + GROUP_WINDOW_SECONDS
            while len(group) < remaining:
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    group.append(finished.get(timeout=left))
                except queue.Empty:
                    break
            remaining -= len(group)
            yield group

    async def _run_all(
        self,
        items: Sequence[tuple[T, ProbeSpecBase]],
        location: str,
        finished: queue.SimpleQueue[Any],
        agent: str | None,
    ) -> None:
        with identified(agent or agent_for("", location)):  # each check's task starts with a copy of it
            await asyncio.gather(*(self._run_one(tag, spec, location, finished) for tag, spec in items))

    async def _run_one(self, tag: T, spec: ProbeSpecBase, location: str, finished: queue.SimpleQueue[Any]) -> None:
        if self._slots is None or self._session is None:
            raise RuntimeError("the probe engine's loop is not running")
        started_at = datetime.now(UTC)
        try:
            async with self._slots:
                started_at = datetime.now(UTC)
                result = await asyncio.wait_for(
                    run_probe_async(spec, location, session=self._session),
                    timeout=spec.timeout.total_seconds() + BACKSTOP_SECONDS,
                )
        except TimeoutError:
            result = _failed(spec, location, started_at, ErrorClass.TIMEOUT, "the check did not stop at its deadline")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a runner must never raise; if one does, the check still gets its answer
            log.exception("probe %s: its runner raised", spec.id)
            result = _failed(
                spec, location, started_at, ErrorClass.PROBE, f"the probe could not run: {type(exc).__name__}: {exc}"
            )
        finished.put((tag, result))


def _failed(
    spec: ProbeSpecBase, location: str, started_at: datetime, error_class: ErrorClass, error: str
) -> CheckResult:
    return judged(spec.id, location, started_at, (error_class, error), f"{error}\nprobed from: {location}")
