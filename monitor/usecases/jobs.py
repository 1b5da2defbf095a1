"""The jobs PortalWatch runs, by name: Celery workers and the embedded thread pool run exactly these.

Each job takes the Runtime and JSON-friendly arguments (ids, ISO times), is idempotent, and hands
follow-up work to `runtime.dispatch` only after its own transaction has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from monitor.runtime import Runtime
from monitor.storage.enums import CheckKind
from monitor.usecases import (
    checks,
    deliver,
    imports,
    interactive,
    letters,
    monitoring,
    notices,
    relief,
    reminders,
    retention,
)

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"

RUN_CHECK = "portalwatch.run_check"  # one check; kept so tasks queued by an older scheduler still run
RUN_CHECKS = "portalwatch.run_checks"
DELIVER = "portalwatch.deliver"
SWEEP_OUTBOX = "portalwatch.sweep_outbox"
RELIEVE = "portalwatch.relieve"
RELIEVE_OPEN_OUTAGES = "portalwatch.relieve_open_outages"
CHECK_MONITORING = "portalwatch.check_monitoring"
IMPORT_CASES = "portalwatch.import_cases"
ISSUE_LETTERS = "portalwatch.issue_letters"
SEND_NOTICE = "portalwatch.send_notice"
PRUNE_CHECKS = "portalwatch.prune_checks"
SLACK_RESPOND = "portalwatch.slack_respond"
SLACK_REMINDERS = "portalwatch.slack_reminders"


def probe_queue(location: str) -> str:
    return f"probes.{location}"


def dispatch(runtime: Runtime, job: str, args: tuple[Any, ...], *, queue: str = DEFAULT_QUEUE) -> None:
    """Hand a job to the runtime's dispatcher, or run it now when the runtime has none (CLI, tests)."""
    if runtime.dispatch is None:
        run(runtime, job, args)
    else:
        runtime.dispatch(job, args, queue=queue)


def deliver_all(runtime: Runtime, delivery_ids: Iterable[int]) -> None:
    for delivery_id in delivery_ids:
        dispatch(runtime, DELIVER, (delivery_id,))


def run_check_job(runtime: Runtime, probe_id: str, location: str, slot: str) -> None:
    deliver_all(runtime, checks.run_check(runtime, probe_id, location, datetime.fromisoformat(slot)))


def run_checks_job(runtime: Runtime, location: str, due: list[list[str]]) -> int:
    """Run a batch of checks from one location: `due` is [probe_id, slot (ISO), kind (optional)] each.

    Deliveries and confirmation checks go out as each group of results is committed, not at the end
    of the batch, so a hung target in the batch delays nobody's alert.
    """
    batch = [
        checks.Due(
            item[0], datetime.fromisoformat(item[1]), CheckKind(item[2]) if len(item) > 2 else CheckKind.SCHEDULED
        )
        for item in due
    ]
    total = 0
    for recorded in checks.run_checks(runtime, location, batch):
        total += recorded.recorded
        deliver_all(runtime, recorded.deliveries)
        confirm(runtime, recorded.confirm)
    return total


def confirm(runtime: Runtime, undecided: Iterable[tuple[str, str]]) -> None:
    """Check again at once, from every location, the probes whose last check left their streak undecided.

    A first failure of a probe that was up is confirmed (or not) now, not an interval later; so is a
    first success of one that was down. The confirmation is a check of its own (kind `confirmation`,
    its slot the moment it was asked for), so it is recorded once however often it is delivered.
    """
    probe_ids = sorted({probe_id for probe_id, _ in undecided})
    if not probe_ids:
        return
    slot = confirmation_slot(runtime.clock()).isoformat()
    for location in runtime.config.location_names:
        items = [[probe_id, slot, CheckKind.CONFIRMATION.value] for probe_id in probe_ids]
        dispatch(runtime, RUN_CHECKS, (location, items), queue=probe_queue(location))


def confirmation_slot(now: datetime) -> datetime:
    """A confirmation's slot: the moment it was asked for, to the millisecond (every back end keeps that)."""
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def deliver_job(runtime: Runtime, delivery_id: int) -> str:
    delivered = deliver.deliver(runtime, delivery_id)
    if delivered.outcome is deliver.Outcome.DONE:
        sweep_letters(runtime)  # relief may have owed letters: sign them now rather than at the next sweep
    return delivered.outcome.value


def sweep_outbox_job(runtime: Runtime) -> int:
    """Catches deliveries whose task was lost or that are due for a retry, and import jobs that got stuck."""
    due = deliver.pending_deliveries(runtime)
    deliver_all(runtime, due)
    sweep_stuck_imports(runtime)
    sweep_letters(runtime)
    for notice_id in notices.due_notices(runtime):
        dispatch(runtime, SEND_NOTICE, (notice_id,))
    return len(due)


def sweep_letters(runtime: Runtime) -> int:
    """Starts signing jobs for owed letters, up to `self_service.letter_workers` running at once."""
    if not letters.pending_letters(runtime):
        return 0
    if runtime.dispatch is None:
        issue_letters_job(runtime)  # inline (CLI, tests): the job loops until nothing is owed
        return 1
    wanted = runtime.config.self_service.letter_workers - letters.signing_jobs_running(runtime)
    for _ in range(max(wanted, 0)):
        dispatch(runtime, ISSUE_LETTERS, ())
    return max(wanted, 0)


def issue_letters_job(runtime: Runtime) -> int:
    """Signs one batch of owed letters and hands the rest to a job of its own, so workers stay shared fairly.

    Run inline (no dispatcher) it loops until nothing is owed instead of recursing.
    """
    total = 0
    while True:
        issued = letters.issue_letters(runtime)
        total += issued
        if issued == 0:
            return total
        for notice_id in notices.due_notices(runtime):
            dispatch(runtime, SEND_NOTICE, (notice_id,))
        if runtime.dispatch is not None:
            dispatch(runtime, ISSUE_LETTERS, ())
            return total


def send_notice_job(runtime: Runtime, notice_id: int) -> str:
    return notices.send_notice(runtime, notice_id)


def import_cases_job(runtime: Runtime, job_id: str) -> str | None:
    """Runs an uploaded import (see usecases.imports); its state, or None if another worker holds it."""
    result = imports.run_import(runtime, job_id)
    return None if result is None else result.state.value


def sweep_stuck_imports(runtime: Runtime) -> int:
    """Sends again import jobs nobody picked up, or whose worker stopped; gives up after their last attempt."""
    job_ids = imports.stuck_imports(runtime)
    for job_id in job_ids:
        dispatch(runtime, IMPORT_CASES, (job_id,))
    return len(job_ids)


def relieve_job(runtime: Runtime, outage_id: int) -> int:
    run = relief.relieve(runtime, outage_id)
    if run.letters:
        sweep_letters(runtime)
    return run.changed


def relieve_open_outages_job(runtime: Runtime) -> int:
    """While an outage lasts, people whose deadline passes inside it get relief without waiting for its end."""
    outage_ids = relief.open_outage_ids(runtime)
    for outage_id in outage_ids:
        dispatch(runtime, RELIEVE, (outage_id,))
    return len(outage_ids)


def check_monitoring_job(runtime: Runtime) -> int:
    found = monitoring.check_monitoring(runtime)
    deliver_all(runtime, found)
    return len(found)


def prune_checks_job(runtime: Runtime) -> int:
    """Drops the evidence of old passing checks no outage rests on (see usecases.retention), for at most a
    minute: the next run goes on where this one stopped."""
    return retention.prune_checks(runtime, budget_seconds=retention.JOB_BUDGET_SECONDS).checks


def slack_respond_job(runtime: Runtime, response_url: str, text: str) -> bool:
    """Tells the person who pressed a Slack button why nothing was done (an ephemeral message)."""
    return interactive.tell(response_url, text)


def slack_reminders_job(runtime: Runtime) -> int:
    """Reminds the channel of open outages nobody has acknowledged (`slack.reminders`)."""
    found = reminders.remind(runtime)
    deliver_all(runtime, found)
    return len(found)


JOBS: dict[str, Callable[..., Any]] = {
    RUN_CHECK: run_check_job,
    RUN_CHECKS: run_checks_job,
    DELIVER: deliver_job,
    SWEEP_OUTBOX: sweep_outbox_job,
    RELIEVE: relieve_job,
    RELIEVE_OPEN_OUTAGES: relieve_open_outages_job,
    CHECK_MONITORING: check_monitoring_job,
    IMPORT_CASES: import_cases_job,
    ISSUE_LETTERS: issue_letters_job,
    SEND_NOTICE: send_notice_job,
    PRUNE_CHECKS: prune_checks_job,
    SLACK_RESPOND: slack_respond_job,
    SLACK_REMINDERS: slack_reminders_job,
}


def run(runtime: Runtime, job: str, args: tuple[Any, ...]) -> Any:
    return JOBS[job](runtime, *args)
