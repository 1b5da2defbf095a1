"""Gunicorn settings for the web process, from any working directory:

    gunicorn -c /app/monitor/web/gunicorn_conf.py monitor.wsgi:app

Give gunicorn this file's *path*, not `python:monitor.web.gunicorn_conf`: importing it as a module
imports the `monitor.web` package (Flask, SQLAlchemy, the whole app) in the master before gevent
patches the workers, and code that bound a blocking primitive at import time stays blocking
(on_starting below refuses to start then).

Environment (all optional):
    PORTALWATCH_WEB_BIND         address(es) to listen on, comma-separated (default 127.0.0.1:8080;
                                 a container sets 0.0.0.0:8080)
    PORTALWATCH_WEB_WORKERS      worker processes (default 2, or WEB_CONCURRENCY)
    PORTALWATCH_WEB_CONNECTIONS  open connections per worker (default 1000)
    PORTALWATCH_WEB_KEEPALIVE    seconds a client has to send each request's headers (default 5)

This module imports nothing from the project, so it is safe to load in the master. Its hooks import
only monitor.metrics.files, which uses the standard library alone.

Metrics: the workers keep theirs in the host's metrics directory (PORTALWATCH_METRICS_DIR, by default
`metrics` in the data directory), shared with the scheduler and Celery workers of the same host. The
master decides the directory once and passes it on to its workers, removes the files of processes
that no longer run when it starts, and does prometheus_client's mark_process_dead for each worker that
exits (child_exit).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# The directory holding `monitor/`: on sys.path so `monitor.wsgi:app` loads whatever the cwd is.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _int_env(*names: str, default: int, minimum: int) -> int:
    for name in names:
        raw = os.environ.get(name, "").strip()
        if not raw:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {value}")
        return value
    return default


bind = [part.strip() for part in os.environ.get("PORTALWATCH_WEB_BIND", "127.0.0.1:8080").split(",") if part.strip()]
pythonpath = str(PROJECT_ROOT)

# Sync workers hold one connection each until it finishes: 200 clients that never finish their
# request line took all of them and nothing else was served. A gevent worker gives each connection a
# greenlet, so slow or idle clients cost memory, not the whole worker. psycopg (>= 3.1.14) notices the
# monkey-patching and waits on PostgreSQL cooperatively; post_worker_init below checks that it did.
worker_class = "gevent"
# One process per core (the default is for 2 cores). Not os.cpu_count(): in a container that is the
# host's count, not the CPU quota. Each worker has its own SQLAlchemy pool (5 + 10 overflow).
workers = _int_env("PORTALWATCH_WEB_WORKERS", "WEB_CONCURRENCY", default=2, minimum=1)
# Connections one worker holds at once, slow ones included; past this the listen backlog queues them.
# Only 15 of them query at a time (the pool); the rest wait up to pool_timeout (30 s), then get a 503.
worker_connections = _int_env("PORTALWATCH_WEB_CONNECTIONS", default=1000, minimum=10)
# With gevent this is the worker's heartbeat: a worker whose loop is blocked this long (CPU-bound
# work, a non-cooperative call) is killed and replaced. It does not bound a single request.
timeout = 30
# On SIGTERM, in-flight requests get this long to finish. Below compose's stop_grace_period (30 s),
# so gunicorn finishes before Docker sends SIGKILL.
graceful_timeout = 20
# The gevent worker reads every request's headers, the first one included, under a Timeout of
# `keepalive` seconds: this is what drops a client that sends its headers a byte at a time. At 0
# gunicorn drops the timeout altogether and such a client keeps its greenlet forever, hence minimum=1.
# Behind a load balancer that reuses connections, set it above the balancer's idle timeout.
keepalive = _int_env("PORTALWATCH_WEB_KEEPALIVE", default=5, minimum=1)
# Our URLs are short (a case id is at most 64 characters) and requests carry few headers; oversized
# ones are refused before they reach Flask (414 / 400).
limit_request_line = 2048
limit_request_fields = 50
limit_request_field_size = 8190
# The app must load in each worker *after* gevent patched it: psycopg picks its wait function when it
# is imported, and one imported before patching blocks the whole worker on every query.
preload_app = False

accesslog = "-"  # stdout, one line per request, ending with its duration in milliseconds
errorlog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
proc_name = "portalwatch-web"
# The control socket would be created under $HOME, which the container's system user does not have;
# nothing here uses gunicornc.
control_socket_disable = True
# The heartbeat file is touched every second; on a container's overlay filesystem that can stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server: Any) -> None:
    # The master must not have loaded the app: gevent patches each worker after the fork, and modules
    # imported before that keep the blocking socket, ssl and select they bound (slack_sdk and urllib3
    # do; gevent's MonkeyPatchWarning lists them). `python:monitor.web.gunicorn_conf` and --preload
    # both load it; refuse rather than serve with workers that block.
    if "gevent" in str(server.cfg.worker_class_str) and "monitor.web" in sys.modules:
        raise RuntimeError(
            "the PortalWatch app was imported by the gunicorn master, before gevent could patch the workers:"
            " pass this configuration by path (-c /app/monitor/web/gunicorn_conf.py) and do not use --preload"
        )
    # Not prometheus_client's own functions: importing it here would import ssl into the master.
    from monitor.metrics import files

    directory = files.directory_from_env(os.environ).resolve()
    os.environ["PORTALWATCH_METRICS_DIR"] = str(directory)  # the workers' settings read exactly this one
    directory.mkdir(parents=True, exist_ok=True)
    removed = files.remove_dead(directory)
    server.log.info("metrics in %s (removed the files of %d process(es) no longer running)", directory, len(removed))


def child_exit(server: Any, worker: Any) -> None:
    from monitor.metrics import files

    directory = os.environ.get("PORTALWATCH_METRICS_DIR")
    if directory:
        files.mark_process_dead(Path(directory), worker.pid)


def blocking_psycopg_wait() -> bool:
    """True when gevent has patched this process but psycopg waits on PostgreSQL with a blocking C call."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("select"):
        return False
    waiting = sys.modules.get("psycopg.waiting")
    if waiting is None:
        return False  # not imported yet: when it is, it will see the patching and cooperate
    return getattr(waiting, "wait_c", None) is not None and waiting.wait is waiting.wait_c


def post_worker_init(worker: Any) -> None:
    # on_starting catches the usual way psycopg gets loaded too early; this catches the rest (psycopg
    # imported by a hook, PSYCOPG_WAIT_FUNC=wait_c). Raising before the worker counts as booted makes
    # the master halt with "Worker failed to boot" instead of serving one query at a time per process.
    if blocking_psycopg_wait():
        raise RuntimeError(
            "psycopg waits on PostgreSQL with a blocking call in this gevent worker, so every query would stall"
            " all its connections: do not import psycopg before the workers are patched, nor set PSYCOPG_WAIT_FUNC"
        )
