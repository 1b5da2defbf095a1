"""Celery, built by a factory from the settings: one task per job in monitor.usecases.jobs, same code as embedded.

Probe checks go to one queue per probe location (`probes.<location>`), everything else to `default`.
Nothing is configured at import time; `python -m monitor worker` builds the app and runs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from celery import Celery
from sqlalchemy.exc import OperationalError

from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.usecases.jobs import DEFAULT_QUEUE, JOBS

_RETRYING: dict[str, Any] = {
    "autoretry_for": (OperationalError, ConnectionError),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


class CeleryDispatch:
    """Sends a job by name to a queue; used by the scheduler and by jobs handing out follow-up work."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def __call__(self, job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None:
        self.app.send_task(job, args=args, queue=queue, expires=expires)


class _LazyRuntime:
    """One Runtime per worker process, built on first use: after a prefork fork, never shared across it."""

    def __init__(self, factory: Callable[[], Runtime], dispatch: CeleryDispatch) -> None:
        self._factory = factory
        self._dispatch = dispatch
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def get(self) -> Runtime:
        with self._lock:
            if self._runtime is None:
                runtime = self._factory()
                runtime.dispatch = self._dispatch
                self._runtime = runtime
            return self._runtime


def make_celery(settings: Settings, runtime_factory: Callable[[], Runtime] | None = None) -> Celery:
    app = Celery("portalwatch", set_as_current=False)
    app.conf.update(
        broker_url=settings.redis or "memory://",
        task_default_queue=DEFAULT_QUEUE,
        task_ignore_result=True,
        task_acks_late=True,  # a worker that dies mid-check gets the check redelivered, not lost
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 600},
    )
    holder = _LazyRuntime(runtime_factory or (lambda: Runtime.create(settings)), CeleryDispatch(app))
    for name, job in JOBS.items():
        app.task(name=name, **_RETRYING)(_task_body(job, holder))
    return app


def _task_body(job: Callable[..., Any], holder: _LazyRuntime) -> Callable[..., Any]:
    def body(*args: Any) -> Any:
        return job(holder.get(), *args)

    body.__name__ = job.__name__
    body.__qualname__ = job.__qualname__
    return body
