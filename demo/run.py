"""`python -m demo`: PortalWatch on its embedded default, watching a portal that fails on a schedule.

Starts the flaky portal on 127.0.0.1:9001, a fresh SQLite database in var/, a few hundred cases
whose deadlines fall in the next minutes, and the embedded service on http://127.0.0.1:8080/.
It narrates what PortalWatch records as it happens.

The demo only ever touches its own data: it ignores DATABASE_URL, REDIS_URL, the ops token and
Slack settings from the environment, and listens on the loopback interface only, so running it
on a machine configured for a real deployment cannot write demo cases into the real database,
repoint real probes at the demo portal, or open the ops API with the demo's well-known token.
"""

from __future__ import annotations

import argparse
import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from demo.cases import generate_cases, write_cases_csv
from demo.portal import DEFAULT_CYCLE, DEFAULT_SCHEDULE, FlakyPortal
from monitor import cli
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import transaction
from monitor.storage.enums import LetterState
from monitor.storage.models import Component, Letter, Outage, PaperAuthorisation, ReliefDecision
from monitor.timefmt import local
from monitor.usecases import people
from monitor.usecases.audit import CLI
from monitor.usecases.cases import import_cases_text

HERE = Path(__file__).resolve().parent
DEMO_COMPONENTS = ["pr-portal", "representative-portal", "employer-portal", "sign-in"]


DEMO_TOKEN = "demo-token"  # well known on purpose: the demo listens on 127.0.0.1 only
# Someone to sign in to the dashboard as (ops: may acknowledge, post updates, correct); same reasoning.
DEMO_PERSON, DEMO_PASSWORD = "demo-ops", "demo-password-on-loopback"


def add_demo_person(runtime: Runtime) -> None:
    password_hash = people.prepare_password(DEMO_PASSWORD)  # slow on purpose: outside the transaction
    with transaction(runtime.sessions) as session:
        people.create_person(
            session, CLI, name=DEMO_PERSON, role="ops", now=runtime.clock(), password_hash=password_hash
        )


def demo_settings(database: Path, config_path: str) -> Settings:
    """Everything the demo runs with, spelled out: nothing comes from the environment."""
    return Settings.explicit(database_url=f"sqlite:///{database}", config_path=config_path, ops_token=DEMO_TOKEN)


def narrate(runtime: Runtime, stop: threading.Event) -> None:
    zone = runtime.config.page.time_zone
    base = runtime.config.page.url.rstrip("/")
    told: set[tuple[int, str]] = set()
    decided_told: tuple[int, int] = (0, 0)
    letters_told = 0
    while not stop.wait(2):
        with transaction(runtime.sessions) as session:
            issued = (
                session.scalar(select(func.count()).select_from(Letter).where(Letter.state == LetterState.ISSUED)) or 0
            )
            letter = session.scalars(
                select(Letter).where(Letter.state == LetterState.ISSUED).order_by(Letter.id.desc()).limit(1)
            ).first()
        if issued != letters_told and letter is not None:
            print(
                f"  ✉ {issued} signed letter(s) issued; e.g. {letter.kind.value} for {letter.case_id}: "
                f"{base}/verify/{letter.code}",
                flush=True,
            )
            letters_told = issued
        with transaction(runtime.sessions) as session:
            outages = session.execute(select(Outage, Component.name).join(Component)).all()
            decided = session.scalar(select(func.count()).select_from(ReliefDecision)) or 0
            paper = session.scalar(select(func.count()).select_from(PaperAuthorisation)) or 0
            example = session.scalars(select(ReliefDecision).order_by(ReliefDecision.case_id).limit(1)).first()
        for outage, name in outages:
            if (outage.id, "open") not in told:
                told.add((outage.id, "open"))
                print(f"  ▲ OUTAGE #{outage.id} {name}: down since {local(outage.started_at, zone)}", flush=True)
            if outage.ended_at and (outage.id, "end") not in told:
                told.add((outage.id, "end"))
                print(f"  ▼ RESOLVED #{outage.id} {name}: back at {local(outage.ended_at, zone)}", flush=True)
        if (decided, paper) != decided_told:
            print(f"  ✓ {decided} case(s) given relief so far; {paper} paper-filing authorisation(s)", flush=True)
            if example is not None:
                print(
                    f"    e.g. {example.case_id}: {local(example.original_deadline, zone)} → "
                    f"{local(example.effective_deadline, zone)} ({', '.join(example.rules)}; {example.status.value})",
                    flush=True,
                )
            decided_told = (decided, paper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--portal-port", type=int, default=9001)
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args(argv)

    var = Path("var")
    var.mkdir(exist_ok=True)
    for leftover in var.glob("demo.db*"):
        leftover.unlink()  # each demo tells its story from the beginning
    config_path = str(HERE / "portalwatch.yaml")
    settings = demo_settings(var / "demo.db", config_path)

    portal = FlakyPortal(port=args.portal_port, schedule=list(DEFAULT_SCHEDULE), cycle_seconds=DEFAULT_CYCLE).start()
    runtime = cli.prepare(settings)
    cases = generate_cases(
        args.cases,
        start=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30),
        span=timedelta(minutes=4),
        components=DEMO_COMPONENTS,
    )
    buffer = io.StringIO()
    write_cases_csv(cases, buffer)
    imported = import_cases_text(runtime, buffer.getvalue(), source="demo cases").rows
    add_demo_person(runtime)

    print(
        f"""
PortalWatch demo
  status page      http://127.0.0.1:{args.port}/
  summary.json     http://127.0.0.1:{args.port}/api/v2/summary.json
  ops dashboard    http://127.0.0.1:{args.port}/ops/  (sign in as {DEMO_PERSON}, password {DEMO_PASSWORD})
  ops API          curl -H 'Authorization: Bearer {DEMO_TOKEN}' \\
                        http://127.0.0.1:{args.port}/api/ops/outages
  flaky portal     {portal.url}/  (the permanent residence portal fails ~20 s in, for 50 s; every 3 minutes)
  cases            {len(imported)} with deadlines over the next 4 minutes, e.g. {imported[0].case_id}
  self-service     http://127.0.0.1:{args.port}/case  ({cases[0]["case_id"]}, access code {cases[0]["access_code"]})
                   http://127.0.0.1:{args.port}/paper-filing  and  http://127.0.0.1:{args.port}/verify
Watch the status page: a component goes to major outage, recovers, and cases get extensions.
Ctrl-C stops.
""",
        flush=True,
    )
    stop = threading.Event()
    threading.Thread(target=narrate, args=(runtime, stop), daemon=True).start()
    started = time.monotonic()
    try:
        return cli.serve_runtime(runtime, "127.0.0.1", args.port)
    finally:
        stop.set()
        portal.stop()
        runtime.close()
        print(f"demo ran {time.monotonic() - started:.0f} s", flush=True)
