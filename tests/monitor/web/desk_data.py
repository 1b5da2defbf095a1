"""What the dashboard tests show and act on: people of each role with passwords, and a desk with real facts.

The open outage is recorded from checks as the workers record them: the upload probe fails (a partial
outage), then the home page too (major), its last failure with a browser's screenshot kept in the
evidence store. One location is blind, one component's monitoring is interrupted, and maintenance is
in progress and coming.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.wrappers import Response as BaseResponse

from monitor.people.credentials import hash_password
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Role, WatchState
from monitor.storage.models import AuditEntry, Check, Component, MonitoringGap, Outage
from monitor.usecases import maintenance, people
from monitor.usecases.audit import CLI
from monitor.usecases.checks import Observed, record_checks
from monitor.usecases.evidence import keep_attachments
from monitor.usecases.locations import note_control
from probes.result import Attachment, CheckResult, ErrorClass
from tests.conftest import T0, check_result, make_runtime
from tests.monitor.web.conftest import NOW, TOKEN

PASSWORD = "correct horse battery staple"
PEOPLE = {"vera": Role.VIEWER, "otto": Role.OPS, "ada": Role.ADMIN}

DESK_CONFIG = """
page: {id: pw-test, name: Test portal status, url: "http://status.test/", time_zone: America/Toronto}
locations: [local, {name: vancouver, control: "http://127.0.0.1:9/"}]
quorum: 1
failure_threshold: 2
recovery_threshold: 2
relief: {grace_days: 7}
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 60s}
      - {id: pr-upload, type: http, url: "http://127.0.0.1:9/upload/", interval: 60s, impact: partial_outage}
  - id: employer-portal
    name: Employer portal
    probes:
      - {id: employer-home, type: http, url: "http://127.0.0.1:9/employer/", interval: 60s}
"""


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG (grey pixels), so a browser shows it as a picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


SCREENSHOT = png()


def desk_runtime(database_url: str, tmp_path: Path) -> Runtime:
    runtime = make_runtime(database_url, DESK_CONFIG, ops_token=TOKEN, evidence_dir=str(tmp_path / "evidence"))
    runtime.clock = lambda: NOW
    with transaction(runtime.sessions) as session:
        for name, role in PEOPLE.items():
            people.create_person(session, CLI, name=name, role=role, password_hash=hash_password(PASSWORD), now=NOW)
    return runtime


def _failed(probe: str, seconds: int, *, screenshot: bool = False) -> CheckResult:
    at = T0 + timedelta(seconds=seconds)
    if not screenshot:
        return check_result(at, False, probe=probe)
    picture = Attachment("screenshot", "image/png", SCREENSHOT)
    return CheckResult(
        probe,
        "local",
        at,
        False,
        status_code=503,
        error_class=ErrorClass.STATUS,
        error="expected 200, got 503",
        evidence=f"probed from: local\nscreenshot: sha256:{picture.sha256} ({picture.size} bytes)\nGET /pr/",
        attachments=(picture,),
    )


def _record(runtime: Runtime, *results: CheckResult) -> None:
    keep_attachments(runtime, results)  # the files first, then the rows, as a worker does
    for result in results:
        with transaction(runtime.sessions) as session:
            record_checks(session, [Observed(result, result.started_at)], grace_days=7, now=result.started_at)


@dataclass(frozen=True)
class Desk:
    outage_id: int
    first_check_id: int
    screenshot_check_id: int


def open_outage_with_a_severity_change(runtime: Runtime) -> Desk:
    """pr-portal: the upload fails at T0+60 s and +120 s (partial outage), the home page at +180 s and +240 s
    (major), the last failure with a screenshot."""
    ok = [check_result(T0, True, probe=probe) for probe in ("pr-home", "pr-upload", "employer-home")]
    _record(runtime, *ok)
    _record(runtime, _failed("pr-upload", 60), check_result(T0 + timedelta(seconds=60), True, probe="pr-home"))
    _record(runtime, _failed("pr-upload", 120), check_result(T0 + timedelta(seconds=120), True, probe="pr-home"))
    _record(runtime, _failed("pr-upload", 180), _failed("pr-home", 180))
    _record(runtime, _failed("pr-upload", 240), _failed("pr-home", 240, screenshot=True))
    with transaction(runtime.sessions) as session:
        outage = session.scalars(select(Outage)).one()
        assert outage.first_check_id is not None
        shot = session.scalars(select(Check).where(Check.probe_id == "pr-home", Check.ok.is_(False))).all()[-1]
        return Desk(outage.id, outage.first_check_id, shot.id)


def troubles_elsewhere(runtime: Runtime) -> None:
    """Vancouver blind, the employer portal unwatched since noon (a PR portal gap ended this morning),
    maintenance in progress and coming."""
    with transaction(runtime.sessions) as session:
        control = check_result(NOW - timedelta(minutes=20), False, probe="control.vancouver", location="vancouver")
        note_control(session, "vancouver", control, now=NOW)  # its control check failed: blind
        session.execute(
            update(Component)
            .where(Component.id == "employer-portal")
            .values(watch_state=WatchState.UNKNOWN, watch_state_since=NOW - timedelta(hours=2))
        )
        # Its gap now, as the monitoring sweep writes it, and one of the PR portal's that ended this morning.
        session.add(
            MonitoringGap(
                component_id="employer-portal",
                started_at=NOW - timedelta(hours=2),
                detected_at=NOW - timedelta(hours=2),
            )
        )
        session.add(
            MonitoringGap(
                component_id="pr-portal",
                started_at=NOW - timedelta(hours=5),
                ended_at=NOW - timedelta(hours=4),
                detected_at=NOW - timedelta(hours=5),
            )
        )
        maintenance.announce_maintenance(
            session,
            components=["employer-portal"],
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=1),
            title="Database upgrade",
            now=NOW - timedelta(days=3),
            announced_at=NOW - timedelta(days=3),
        )
        maintenance.announce_maintenance(
            session,
            components=["pr-portal"],
            starts_at=NOW + timedelta(days=2),
            ends_at=NOW + timedelta(days=2, hours=2),
            title="Certificate renewal",
            now=NOW,
        )


# --- signing in and forms ----------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/ops/sign-in") -> str:
    page = client.get(path).get_data(as_text=True)
    found = _CSRF.search(page)
    assert found, page
    return found.group(1)


def signed_in(client: FlaskClient, name: str) -> FlaskClient:
    response = client.post("/ops/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def post_form(client: FlaskClient, path: str, data: Mapping[str, object], *, csrf: bool = True) -> BaseResponse:
    form = dict(data)
    if csrf:
        form["csrf_token"] = csrf_token(client, "/ops/")
    return client.post(path, data=form)


def audit_entries(runtime: Runtime, after_id: int = 0) -> list[AuditEntry]:
    with transaction(runtime.sessions) as session:
        found = list(session.scalars(select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id)))
        session.expunge_all()
        return found


def last_audit_id(runtime: Runtime) -> int:
    found = audit_entries(runtime)
    return found[-1].id if found else 0
