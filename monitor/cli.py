"""`python -m monitor serve | worker | scheduler | migrate`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from werkzeug.serving import make_server

from monitor import tasks
from monitor.config import ConfigError
from monitor.db import transaction
from monitor.migrate import migrate
from monitor.registry import sync_config
from monitor.runtime import Runtime
from monitor.scheduler import InProcess, Scheduler, send_to_broker
from monitor.settings import Settings
from monitor.web import create_app

log = logging.getLogger("portalwatch")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "config", None):
        os.environ["PORTALWATCH_CONFIG"] = args.config  # worker child processes read the same file
        settings = Settings.from_env()
    return settings


def prepare(settings: Settings) -> Runtime:
    """Load and check the configuration, migrate the database, and register what the file declares."""
    runtime = Runtime.create(settings)
    migrate(runtime.engine)
    with transaction(runtime.sessions) as session:
        sync_config(session, runtime.config)
    return runtime


def _stop_on_signals(stop: threading.Event, on_stop: list[object]) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s, stopping", signum)
        stop.set()
        for action in on_stop:
            # The handler runs on the main thread, which may be the one serving; shutdown() waits for
            # that loop to end, so it must be called from another thread.
            threading.Thread(target=action, daemon=True).start()  # type: ignore[arg-type]

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    runtime = prepare(settings)
    tasks.configure(settings)
    tasks.use_runtime(runtime)
    stop = threading.Event()
    server = make_server(args.host, args.port, create_app(runtime), threaded=True)
    runner: InProcess | None = None
    # One line per task is noise when tasks run in-process every few seconds; outcomes are logged by the jobs.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if settings.distributed:
        log.info("REDIS_URL is set: serving the web app only; run `worker` and `scheduler` for checks")
    else:
        runner = InProcess()
        scheduler = Scheduler(runtime, runner)
        threading.Thread(target=scheduler.run, args=(stop,), name="portalwatch-scheduler", daemon=True).start()
    _stop_on_signals(stop, [server.shutdown])
    mode = "distributed" if settings.distributed else "embedded"
    log.info("PortalWatch (%s mode) serving http://%s:%s/", mode, args.host, server.port)
    server.serve_forever()
    if runner is not None:
        runner.shutdown()
    runtime.close()
    return 0


def scheduler_main(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.distributed:
        print("scheduler: REDIS_URL is not set; in embedded mode `serve` runs the scheduler itself", file=sys.stderr)
        return 2
    runtime = prepare(settings)
    stop = threading.Event()
    _stop_on_signals(stop, [])
    log.info("scheduler sending checks for locations %s", ", ".join(runtime.config.locations))
    Scheduler(runtime, send_to_broker).run(stop)
    runtime.close()
    return 0


def worker_main(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.distributed:
        print("worker: REDIS_URL is not set; in embedded mode `serve` runs tasks itself", file=sys.stderr)
        return 2
    runtime = Runtime.create(settings)  # fails fast on a bad configuration file, before any task is taken
    migrate(runtime.engine)
    runtime.close()
    locations = args.locations.split(",") if args.locations else [settings.location]
    queues = [tasks.probe_queue(loc) for loc in locations]
    if not args.probes_only:
        queues.append(tasks.DEFAULT_QUEUE)
    argv = ["worker", "--loglevel", args.loglevel, "-Q", ",".join(queues), "--concurrency", str(args.concurrency)]
    argv += ["--hostname", f"portalwatch-{'-'.join(locations)}@%h", "--without-gossip", "--without-mingle"]
    if args.pool:
        argv += ["--pool", args.pool]
    tasks.app.worker_main(argv)
    return 0


def migrate_main(args: argparse.Namespace) -> int:
    runtime = prepare(_settings(args))
    runtime.close()
    print("database is at the latest schema; configuration registered")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m monitor", description="PortalWatch service")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="embedded all-in-one: web, scheduler and in-process tasks")
    p.add_argument("--config", help="configuration file (default: $PORTALWATCH_CONFIG or portalwatch.yaml)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=serve)

    p = sub.add_parser("worker", help="distributed mode: a Celery worker")
    p.add_argument("--config")
    p.add_argument("--locations", help="probe locations whose queues this worker takes (default $PORTALWATCH_LOCATION)")
    p.add_argument("--probes-only", action="store_true", help="take only probe queues, not the default queue")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--pool", choices=["prefork", "threads", "solo"], default=None)
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=worker_main)

    p = sub.add_parser("scheduler", help="distributed mode: sends due checks and periodic jobs to the workers")
    p.add_argument("--config")
    p.set_defaults(func=scheduler_main)

    p = sub.add_parser("migrate", help="bring the database to the latest schema and register the configuration")
    p.add_argument("--config")
    p.set_defaults(func=migrate_main)

    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        print(f"PortalWatch will not start: {exc}", file=sys.stderr)
        return 2
