"""Embedded mode: jobs run on a thread pool in this process instead of on Celery workers."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from monitor.runtime import Runtime
from monitor.usecases import jobs

log = logging.getLogger(__name__)


class InProcess:
    """A Dispatch that runs each job on a pool thread; queues and expiry mean nothing in one process."""

    def __init__(self, runtime: Runtime, workers: int = 8) -> None:
        self.runtime = runtime
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portalwatch-job")

    def __call__(self, job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None:
        try:
            self.pool.submit(self._run, job, args)
        except RuntimeError:  # shutting down: the job's slot or delivery is picked up again next start
            log.info("not running %s%r: shutting down", job, args)

    def _run(self, job: str, args: tuple[Any, ...]) -> None:
        try:
            jobs.run(self.runtime, job, args)
        except Exception:
            log.exception("job %s%r failed", job, args)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
