"""The outage story both end-to-end tests tell: arrange cases, break the portal, mend it, check the record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import func, select

from demo.portal import FlakyPortal
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Check, Grant, Outage

T = TypeVar("T")
OPS = {"Authorization": "Bearer ops-secret"}


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass
class Story:
    """Times the test itself observed, to compare with what PortalWatch recorded."""

    runtime: Runtime
    client: FlaskClient
    portal: FlakyPortal
    t0: datetime

    def import_cases(self) -> None:
        inside = self.t0 + timedelta(seconds=4)  # the portal is made to fail from t0+2s to t0+6s or later
        rows = [
            "case_id,components,deadline,time_zone",
            f"INSIDE-TO,pr-portal,{utc(inside)},America/Toronto",
            f"INSIDE-IN,pr-portal;employer-portal,{utc(inside)},Asia/Kolkata",
            f"BEFORE,pr-portal,{utc(self.t0 - timedelta(minutes=1))},America/Toronto",
            # Two hours on: the outage (seconds long) is neither in its last hour nor 60 minutes of its day.
            f"AFTER,pr-portal,{utc(self.t0 + timedelta(hours=2))},America/Toronto",
            f"OTHER-COMPONENT,employer-portal,{utc(inside)},America/Toronto",
        ]
        response = self.client.post(
            "/api/ops/cases/import", data="\n".join(rows) + "\n", headers={**OPS, "Content-Type": "text/csv"}
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["imported"] == 5

    def checks(self, probe_id: str = "pr-home") -> int:
        with transaction(self.runtime.sessions) as session:
            return session.scalar(select(func.count()).select_from(Check).where(Check.probe_id == probe_id)) or 0

    def summary(self) -> dict[str, Any]:
        response = self.client.get("/api/v2/summary.json")
        assert response.status_code == 200
        payload: dict[str, Any] = response.get_json()
        return payload

    def component_status(self, component_id: str) -> str:
        return next(c["status"] for c in self.summary()["components"] if c["id"] == component_id)

    def outages(self) -> list[Outage]:
        with transaction(self.runtime.sessions) as session:
            return list(session.scalars(select(Outage).order_by(Outage.id)))

    def grants(self, case_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/ops/cases/{case_id}", headers=OPS)
        assert response.status_code == 200
        grants: list[dict[str, Any]] = response.get_json()["grants"]
        return grants

    def letters(self, case_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/ops/cases/{case_id}", headers=OPS)
        letters: list[dict[str, Any]] = response.get_json()["letters"]
        return letters

    def assert_letters(self) -> None:
        """The final extension got its signed letter from the jobs, and the public verification confirms it."""
        [letter] = wait_until("the extension letter to be signed", lambda: self.letters("INSIDE-TO") or None)
        assert letter["kind"] == "extension"
        shown = self.client.get(f"/api/v1/verify/{letter['code']}").get_json()
        assert shown["valid"] is True and shown["superseded_by"] is None
        pdf = self.client.get(f"/letters/{letter['code']}.pdf").data
        checked = self.client.post("/api/v1/verify", data=pdf, content_type="application/pdf").get_json()
        assert checked["genuine"] is True, checked

    def total_grants(self) -> int:
        with transaction(self.runtime.sessions) as session:
            return session.scalar(select(func.count()).select_from(Grant)) or 0

    def run(self) -> tuple[datetime, datetime]:
        """Break the permanent residence portal at t0+2s and mend it once the outage is on the status page."""
        wait_until("two successful checks of the portal", lambda: self.checks() >= 2)
        assert self.component_status("pr-portal") == "operational"
        time.sleep(max(0.0, (self.t0 + timedelta(seconds=2) - datetime.now(UTC)).total_seconds()))
        failed_from = datetime.now(UTC)
        self.portal.set_mode("pr", "down")
        wait_until("pr-portal to show major_outage", lambda: self.component_status("pr-portal") == "major_outage")
        summary = self.summary()
        assert summary["status"]["indicator"] == "major"
        assert [i["name"] for i in summary["incidents"]] == ["Permanent residence portal unavailable"]
        assert self.component_status("employer-portal") == "operational"
        # The deadline at t0+4s must pass while the portal is still down.
        time.sleep(max(0.0, (self.t0 + timedelta(seconds=6) - datetime.now(UTC)).total_seconds()))
        wait_until("a provisional grant while the outage is open", lambda: self.grants("INSIDE-TO"))
        failed_until = datetime.now(UTC)
        self.portal.set_mode("pr", "up")
        wait_until("pr-portal to be operational again", lambda: self.component_status("pr-portal") == "operational")
        return failed_from, failed_until

    def assert_record(self, failed_from: datetime, failed_until: datetime, interval: timedelta) -> None:
        outages = self.outages()
        assert len(outages) == 1, outages
        outage = outages[0]
        assert outage.component_id == "pr-portal"
        assert outage.last_ok_at is not None and outage.ended_at is not None
        # The record brackets what the test did: the first failed check came after the portal broke,
        # within one interval; the last success before it came before; recovery after it was mended.
        assert outage.last_ok_at < failed_from <= outage.started_at <= failed_from + interval + timedelta(seconds=1)
        assert failed_until <= outage.ended_at <= failed_until + interval + timedelta(seconds=1)
        assert outage.detected_at >= outage.started_at

        wait_until("grants to become final", lambda: all(g["status"] == "final" for g in self.grants("INSIDE-TO")))
        for case_id, zone in (("INSIDE-TO", "America/Toronto"), ("INSIDE-IN", "Asia/Kolkata")):
            grants = self.grants(case_id)
            assert len(grants) == 1, (case_id, grants)
            # The legacy `grace_days: 7` of the test configuration: 23:59:59 local, 7 days after restoration.
            local_day = outage.ended_at.astimezone(ZoneInfo(zone)).date() + timedelta(days=7)
            expected = datetime.combine(local_day, clock_time(23, 59, 59), tzinfo=ZoneInfo(zone))
            assert datetime.fromisoformat(grants[0]["new_deadline"]) == expected
            assert grants[0]["outage_id"] == outage.id
        for case_id in ("BEFORE", "AFTER", "OTHER-COMPONENT"):
            assert self.grants(case_id) == [], case_id
        assert self.total_grants() == 2
        self.assert_letters()

        summary = self.summary()
        assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
        assert summary["incidents"] == []
        page = self.client.get("/").get_data(as_text=True)
        assert "Permanent residence portal" in page and f'id="outage-{outage.id}"' in page
        assert "EST" in page  # times are shown with their zone
