"""The composition root of every process.

`python -m monitor serve | worker | scheduler | migrate | outbox | verify-evidence | prune-checks`, and for
people: `create-user | create-token | revoke-token | set-password | set-slack-user | verify-audit`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
import threading
from types import FrameType

from werkzeug.serving import make_server

from monitor.config import ConfigError
from monitor.metrics import multiprocess as metrics
from monitor.people.credentials import shown_prefix
from monitor.runtime import Runtime
from monitor.scheduler.loop import Scheduler
from monitor.settings import Settings
from monitor.storage.engine import transaction
from monitor.storage.enums import Role
from monitor.storage.migrate import migrate
from monitor.tasks.celery import CeleryDispatch, make_celery
from monitor.tasks.inprocess import InProcess
from monitor.usecases import jobs, people
from monitor.usecases.audit import CLI, verify_audit
from monitor.usecases.configure import apply_config
from monitor.usecases.deliver import backlog_report
from monitor.usecases.evidence import verify_evidence
from monitor.usecases.outages import Conflict, InvalidInput, NotFound
from monitor.usecases.retention import prune_checks
from monitor.web import create_app

log = logging.getLogger("portalwatch")

# Worker processes with `--pool prefork`: one per core of a small (2-core) machine.
DEFAULT_PROCESSES = 2
# The commands whose processes record metrics, into the directory `GET /metrics` reads; `serve` also
# serves it, so it first removes the files of processes that no longer run (as the web's start does).
RECORDING = ("serve", "scheduler", "worker")


class WeakSecret(Exception):
    pass


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "config", None):
        os.environ["PORTALWATCH_CONFIG"] = args.config  # worker child processes read the same file
    return Settings.from_env()


def check_secrets(settings: Settings) -> None:
    """Refuse to run a real service behind a placeholder or short ops token."""
    problem = settings.ops_token_problem()
    if problem is not None:
        raise WeakSecret(problem)


def prepare(settings: Settings) -> Runtime:
    """Load and check the configuration, migrate the database, and register what the file declares."""
    runtime = Runtime.create(settings)
    migrate(runtime.engine)
    with transaction(runtime.sessions) as session:
        # Outages the new configuration closed get their events here; the outbox sweeper of the
        # running service delivers them (relief made final, Slack updated).
        apply_config(session, runtime.config, now=runtime.clock())
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


def serve_runtime(runtime: Runtime, host: str, port: int) -> int:
    """Serve the web app; in embedded mode also run the scheduler and the jobs in this process."""
    settings = runtime.settings
    stop = threading.Event()
    runner: InProcess | None = None
    if settings.distributed:
        runtime.dispatch = CeleryDispatch(make_celery(settings))
        log.info("REDIS_URL is set: serving the web app only; run `worker` and `scheduler` for checks")
    else:
        runner = InProcess(runtime)
        runtime.dispatch = runner
        # Embedded mode has one scheduler, in this process, and no Redis: it leads without a lock, and
        # starts after the latest slot the database holds (the wall clock may have been set back since).
        scheduler = Scheduler(runtime, runner)
        threading.Thread(target=scheduler.run, args=(stop,), name="portalwatch-scheduler", daemon=True).start()
    server = make_server(host, port, create_app(runtime), threaded=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _stop_on_signals(stop, [server.shutdown])
    mode = "distributed" if settings.distributed else "embedded"
    log.info("PortalWatch (%s mode) serving http://%s:%s/", mode, host, server.port)
    server.serve_forever()
    if runner is not None:
        runner.shutdown()
    runtime.close()
    return 0


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    check_secrets(settings)
    return serve_runtime(prepare(settings), args.host, args.port)


def scheduler_main(args: argparse.Namespace) -> int:
    from monitor.scheduler.leader import RedisLeadership

    settings = _settings(args)
    redis_url = settings.redis
    if redis_url is None:
        print("scheduler: REDIS_URL is not set; in embedded mode `serve` runs the scheduler itself", file=sys.stderr)
        return 2
    runtime = prepare(settings)
    dispatch = CeleryDispatch(make_celery(settings))
    runtime.dispatch = dispatch
    stop = threading.Event()
    _stop_on_signals(stop, [])
    # Any number of these may run (a rolling deploy, a replica): only the holder of the Redis lock
    # sends; the others stand by and take over within the lock's TTL if it dies.
    leadership = RedisLeadership.from_url(redis_url)
    log.info(
        "scheduler for locations %s; sends only while it holds the lock %s",
        ", ".join(runtime.config.location_names),
        leadership.lock_name,
    )
    Scheduler(runtime, dispatch, leadership=leadership).run(stop)  # gives the lock up when stopped
    leadership.client.close()
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
    queues = [jobs.probe_queue(loc) for loc in locations]
    if not args.probes_only:
        queues.append(jobs.DEFAULT_QUEUE)
    # One process by default: batches of checks wait on its one event loop, so threads
    # (PORTALWATCH_PROBE_BATCHES of them) are enough, and every extra process costs its own memory,
    # loop and connection pool. `--pool prefork` gives CPU-bound work (letters, imports) more cores.
    pool = args.pool or "threads"
    concurrency = args.concurrency or (settings.probe_batches if pool == "threads" else DEFAULT_PROCESSES)
    argv = ["worker", "--loglevel", args.loglevel, "-Q", ",".join(queues), "--concurrency", str(concurrency)]
    argv += ["--hostname", f"portalwatch-{'-'.join(locations)}@%h", "--without-gossip", "--without-mingle"]
    argv += ["--pool", pool]
    make_celery(settings).worker_main(argv)
    return 0


def migrate_main(args: argparse.Namespace) -> int:
    runtime = prepare(_settings(args))
    runtime.close()
    print("database is at the latest schema; configuration registered")
    return 0


def outbox_main(args: argparse.Namespace) -> int:
    """Print the delivery backlog: what each consumer still owes and what keeps failing."""
    runtime = prepare(_settings(args))
    report = backlog_report(runtime)
    runtime.close()
    print(json.dumps(report, indent=2))
    return 0


def verify_evidence_main(args: argparse.Namespace) -> int:
    """Walk every chain of checks; print each one's first broken link. Exit 0 only when all verify."""
    runtime = prepare(_settings(args))
    try:
        report = verify_evidence(runtime)
    finally:
        runtime.close()
    notes = [f"{report.unchained} recorded before the log was chained"] if report.unchained else []
    notes += [f"{report.pruned} passing with their evidence text pruned"] if report.pruned else []
    print(
        f"{report.chains} chain(s) of checks, {report.checks} check(s) read"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    for broken in report.broken:
        print(
            f"BROKEN: check {broken.check_id} (probe {broken.probe_id}, location {broken.location}, "
            f"slot {broken.slot.isoformat()}): {broken.problem}"
        )
    if not report.broken:
        print("every chain verifies")
    print(f"{report.pieces} piece(s) of evidence in the store ({runtime.settings.evidence_path})")
    for piece in report.broken_pieces:
        print(
            f"BROKEN: check {piece.check_id} (probe {piece.probe_id}, location {piece.location}, "
            f"slot {piece.slot.isoformat()}), piece {piece.name} (sha256:{piece.sha256}): {piece.problem}"
        )
    if report.broken_piece_count > len(report.broken_pieces):
        print(f"… and {report.broken_piece_count - len(report.broken_pieces)} more piece(s) that do not verify")
    if not report.broken_piece_count:
        print("every piece of evidence verifies")
    if report.intact:
        return 0
    if report.broken:
        print(f"{len(report.broken)} chain(s) do not verify", file=sys.stderr)
    if report.broken_piece_count:
        print(f"{report.broken_piece_count} piece(s) of evidence do not verify", file=sys.stderr)
    return 1


def prune_checks_main(args: argparse.Namespace) -> int:
    """Drop the evidence of passing checks older than `retention.passing_checks`; say what was done."""
    runtime = prepare(_settings(args))
    try:
        report = prune_checks(runtime)
    finally:
        runtime.close()
    if report.cutoff is None:
        print("retention.passing_checks is off: the evidence of every check is kept")
        return 0
    print(
        f"dropped the evidence of {report.checks} passing check(s) that started before "
        f"{report.cutoff.isoformat()} and no outage rests on; removed {report.pieces} piece(s) and "
        f"{report.files} file(s) from the evidence store"
    )
    return 0


# --- people ------------------------------------------------------------------------------------------


class Refused(Exception):
    """What an operator asked for cannot be done; the message says why."""


def _read_password() -> str:
    """A password from the terminal (asked twice, not echoed), or the first line of standard input: never argv."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("the same again: ") != first:
            raise Refused("the two passwords differ; nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _people_command(args: argparse.Namespace, action: str) -> int:
    runtime = prepare(_settings(args))
    try:
        lines = _PEOPLE_ACTIONS[action](runtime, args)
    except (InvalidInput, Conflict, NotFound, Refused) as exc:
        print(f"{action}: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    for line in lines:
        print(line)
    return 0


def _create_user(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    password_hash = people.prepare_password(_read_password()) if args.password else None
    with transaction(runtime.sessions) as session:
        person = people.create_person(
            session,
            CLI,
            name=args.name,
            role=args.role,
            slack_user_id=args.slack_user_id,
            password_hash=password_hash,
            now=runtime.clock(),
        )
        issued = people.issue_token(session, CLI, person.name, now=runtime.clock())
    sign_in = "may sign in to the dashboard" if password_hash else "has no password (API tokens only)"
    return [
        f"created {issued.person} ({issued.role.value}); {sign_in}",
        f"API token {shown_prefix(issued.prefix)}, shown this once (only its SHA-256 is kept):",
        issued.token,  # the last line: scripts read it with `tail -n 1`
    ]


def _create_token(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    with transaction(runtime.sessions) as session:
        issued = people.issue_token(session, CLI, args.name, now=runtime.clock())
    return [
        f"new API token {shown_prefix(issued.prefix)} for {issued.person} ({issued.role.value}), shown this once:",
        issued.token,
    ]


def _revoke_token(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    with transaction(runtime.sessions) as session:
        token, person = people.revoke_token(session, CLI, args.prefix, now=runtime.clock())
    return [f"token {shown_prefix(token.prefix)} of {person.name} revoked at {token.revoked_at}"]


def _set_password(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    password_hash = people.prepare_password(_read_password())
    with transaction(runtime.sessions) as session:
        person = people.set_password(session, CLI, args.name, password_hash=password_hash, now=runtime.clock())
    return [f"{person.name} has a new password; their dashboard sessions have ended"]


def _set_slack_user(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    slack_user_id = None if args.slack_user_id.lower() == "none" else args.slack_user_id
    with transaction(runtime.sessions) as session:
        person = people.set_slack_user(session, CLI, args.name, slack_user_id=slack_user_id, now=runtime.clock())
    if person.slack_user_id is None:
        return [f"{person.name} is linked to no Slack account"]
    return [f"{person.name} is Slack user {person.slack_user_id}: their Acknowledge presses in Slack act as them"]


_PEOPLE_ACTIONS = {
    "create-user": _create_user,
    "create-token": _create_token,
    "revoke-token": _revoke_token,
    "set-password": _set_password,
    "set-slack-user": _set_slack_user,
}


def verify_audit_main(args: argparse.Namespace) -> int:
    """Walk the audit log's chain; print the first entry that does not verify. Exit 0 only when it all does."""
    runtime = prepare(_settings(args))
    try:
        report = verify_audit(runtime.sessions)
    finally:
        runtime.close()
    print(f"{report.entries} audit entr{'y' if report.entries == 1 else 'ies'} read")
    broken = report.broken
    if broken is None:
        if report.last_id:
            print(f"last entry {report.last_id}, hash {report.last_hash}")
        print("the audit log verifies")
        return 0
    if broken.entry_id is None:
        print(f"BROKEN: {broken.problem}")
    else:
        at = broken.at.isoformat() if broken.at else "?"
        print(
            f"BROKEN: entry {broken.entry_id} ({broken.action} of {broken.subject} by {broken.actor} at {at}): "
            f"{broken.problem}"
        )
    print("the audit log does not verify", file=sys.stderr)
    return 1


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
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"threads (default $PORTALWATCH_PROBE_BATCHES), or processes with --pool prefork ({DEFAULT_PROCESSES})",
    )
    p.add_argument("--pool", choices=["prefork", "threads", "solo"], default=None)
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=worker_main)

    p = sub.add_parser("scheduler", help="distributed mode: sends due checks and periodic jobs to the workers")
    p.add_argument("--config")
    p.set_defaults(func=scheduler_main)

    p = sub.add_parser("migrate", help="bring the database to the latest schema and register the configuration")
    p.add_argument("--config")
    p.set_defaults(func=migrate_main)

    p = sub.add_parser("outbox", help="show the outbox backlog: pending and failing deliveries per consumer")
    p.add_argument("--config")
    p.set_defaults(func=outbox_main)

    p = sub.add_parser(
        "verify-evidence",
        help="check that no recorded check was edited, removed or added, and that every stored piece is intact",
    )
    p.add_argument("--config")
    p.set_defaults(func=verify_evidence_main)

    p = sub.add_parser(
        "prune-checks",
        help="drop the evidence of passing checks older than retention.passing_checks (outages' evidence is kept)",
    )
    p.add_argument("--config")
    p.set_defaults(func=prune_checks_main)

    p = sub.add_parser("create-user", help="add a person; prints their first API token as the last line")
    p.add_argument("name", help="lowercase letters, digits, '.', '_' or '-'")
    p.add_argument("--role", required=True, choices=[role.value for role in Role])
    p.add_argument("--slack-user-id", help="their Slack user id (U012AB3CD)")
    p.add_argument(
        "--password",
        action="store_true",
        help="also set a password for the dashboard, asked for on the terminal or read from standard input",
    )
    p.add_argument("--config")
    p.set_defaults(func=lambda args: _people_command(args, "create-user"))

    p = sub.add_parser("create-token", help="a new API token for a person; prints it as the last line")
    p.add_argument("name")
    p.add_argument("--config")
    p.set_defaults(func=lambda args: _people_command(args, "create-token"))

    p = sub.add_parser("revoke-token", help="revoke an API token by its prefix (pw_ab12cd34)")
    p.add_argument("prefix")
    p.add_argument("--config")
    p.set_defaults(func=lambda args: _people_command(args, "revoke-token"))

    p = sub.add_parser("set-password", help="set a person's dashboard password (terminal or standard input)")
    p.add_argument("name")
    p.add_argument("--config")
    p.set_defaults(func=lambda args: _people_command(args, "set-password"))

    p = sub.add_parser("set-slack-user", help="link a person to their Slack user id (`none` unlinks)")
    p.add_argument("name")
    p.add_argument("slack_user_id", help="their Slack user id (U012AB3CD), or none")
    p.add_argument("--config")
    p.set_defaults(func=lambda args: _people_command(args, "set-slack-user"))

    p = sub.add_parser("verify-audit", help="check that no audit entry was edited, removed or added")
    p.add_argument("--config")
    p.set_defaults(func=verify_audit_main)

    args = parser.parse_args(argv)
    try:
        if args.command in RECORDING:
            # Before anything is recorded; a prefork worker's children inherit it.
            metrics.start(Settings.from_env().metrics_path, clean=args.command == "serve")
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        print(f"PortalWatch will not start: {exc}", file=sys.stderr)
        return 2
    except (WeakSecret, metrics.MetricsDirectoryError) as exc:
        print(f"PortalWatch will not start: {exc}", file=sys.stderr)
        return 2
