"""Embedded mode: jobs run on a thread pool in this process instead of on Celery workers."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from monitor.runtime import Runtime
from monitor.usecases import jobs

log = logging.getLogger(__name__)


class InProcess:
    """A Dispatch that runs each job on a pool thread; expiry means nothing in one process.

    Batches of checks have a pool of their own: a batch waits for its slowest check, and batches
    stuck on hung targets must not hold up deliveries, relief or letters (nor those the other way).
    """

    def __init__(self, runtime: Runtime, workers: int = 8, probe_workers: int | None = None) -> None:
        self.runtime = runtime
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portalwatch-job")
        self.probe_pool = ThreadPoolExecutor(
            max_workers=probe_workers or runtime.settings.probe_batches, thread_name_prefix="portalwatch-checks"
        )

    def __call__(self, job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None:
        pool = self.probe_pool if queue.startswith(jobs.probe_queue("")) else self.pool
        try:
            pool.submit(self._run, job, args)
        except RuntimeError:  # shutting down: the job's slot or delivery is picked up again next start
            log.info("not running %s%r: shutting down", job, args)

    def _run(self, job: str, args: tuple[Any, ...]) -> None:
        try:
            jobs.run(self.runtime, job, args)
        except Exception:
            log.exception("job %s%r failed", job, args)

    def shutdown(self) -> None:
        # Checks first: a batch still running hands its deliveries to the general pool as it records.
        self.probe_pool.shutdown(wait=True, cancel_futures=True)
        self.pool.shutdown(wait=True, cancel_futures=True)
