"""Celery tasks: thin, idempotent wrappers over monitor.jobs.

Distributed mode (REDIS_URL set): tasks travel through Redis to workers; probe checks go to one
queue per probe location (`probes.<location>`), everything else to `default`.
Embedded mode: the same tasks run in-process (Celery's eager mode) on the scheduler's threads.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from celery import Celery
from sqlalchemy.exc import OperationalError

from monitor import jobs
from monitor.runtime import Runtime
from monitor.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"


def probe_queue(location: str) -> str:
    return f"probes.{location}"


app = Celery("portalwatch")

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def configure(settings: Settings) -> Celery:
    app.conf.update(
        broker_url=settings.redis_url or "memory://",
        task_always_eager=not settings.distributed,
        task_eager_propagates=False,
        task_default_queue=DEFAULT_QUEUE,
        task_ignore_result=True,
        task_acks_late=True,  # a worker that dies mid-check gets the check redelivered, not lost
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 600},
    )
    return app


def use_runtime(runtime: Runtime) -> None:
    """Hand this process's tasks a ready Runtime (embedded mode, tests); otherwise built from the environment."""
    global _runtime
    with _runtime_lock:
        _runtime = runtime


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.create(Settings.from_env())
        return _runtime


configure(Settings.from_env())

_retrying: dict[str, Any] = {
    "autoretry_for": (OperationalError, ConnectionError),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


@app.task(name="portalwatch.run_check", **_retrying)
def run_check(probe_id: str, location: str, slot: str) -> None:
    for event_id in jobs.run_check(runtime(), probe_id, location, datetime.fromisoformat(slot)):
        # Sent only now that the event row is committed, so the consumer always finds it.
        deliver_event.apply_async((event_id,), queue=DEFAULT_QUEUE)


@app.task(name="portalwatch.deliver_event", **_retrying)
def deliver_event(event_id: int) -> str:
    return jobs.deliver_event(runtime(), event_id).value


@app.task(name="portalwatch.sweep_outbox", **_retrying)
def sweep_outbox() -> int:
    """Catches events whose delivery task was lost or is due for a retry."""
    pending = jobs.pending_events(runtime())
    for event_id in pending:
        deliver_event.apply_async((event_id,), queue=DEFAULT_QUEUE)
    return len(pending)


@app.task(name="portalwatch.relieve", **_retrying)
def relieve(outage_id: int) -> int:
    return jobs.relieve(runtime(), outage_id).granted


@app.task(name="portalwatch.relieve_open_outages", **_retrying)
def relieve_open_outages() -> int:
    """While an outage lasts, people whose deadline passes inside it get relief without waiting for its end."""
    outage_ids = jobs.open_outage_ids(runtime())
    for outage_id in outage_ids:
        relieve.apply_async((outage_id,), queue=DEFAULT_QUEUE)
    return len(outage_ids)
