"""The demo's flaky portal (real HTTP servers on 127.0.0.1) and its case generator."""

from __future__ import annotations

import csv
import io
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from demo import cases as demo_cases
from demo.cases import generate_cases, parse_span, write_cases_csv
from demo.portal import COMPONENTS, DEFAULT_CYCLE, DEFAULT_SCHEDULE, FlakyPortal, Window

REPO_ROOT = Path(__file__).resolve().parents[2]
START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


class FakeClock:
    """A settable time source, so schedule tests don't have to wait for real minutes."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def portal() -> Iterator[FlakyPortal]:
    with FlakyPortal(slow_seconds=0.3) as running:
        yield running


@pytest.mark.timeout(15)
def test_up_components_show_sign_in(portal: FlakyPortal) -> None:
    for component, title in COMPONENTS.items():
        response = requests.get(portal.url_for(component), timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert "Sign in" in response.text
        assert title in response.text
    assert portal.requests_served == dict.fromkeys(COMPONENTS, 1)
    assert portal.url_for("pr") == f"http://127.0.0.1:{portal.port}/pr/"


@pytest.mark.timeout(15)
def test_down_answers_503(portal: FlakyPortal) -> None:
    portal.set_mode("pr", "down")
    response = requests.get(portal.url_for("pr"), timeout=5)
    assert response.status_code == 503
    assert "Service Unavailable" in response.text
    assert "Sign in" not in response.text
    assert requests.get(portal.url_for("employer"), timeout=5).status_code == 200


@pytest.mark.timeout(15)
def test_forbidden_answers_403(portal: FlakyPortal) -> None:
    portal.set_mode("representative", "forbidden")
    response = requests.get(portal.url_for("representative"), timeout=5)
    assert response.status_code == 403
    assert "Access Denied" in response.text
    assert "Sign in" not in response.text


@pytest.mark.timeout(15)
def test_broken_answers_200_without_sign_in(portal: FlakyPortal) -> None:
    for component in COMPONENTS:
        portal.set_mode(component, "broken")
        response = requests.get(portal.url_for(component), timeout=5)
        assert response.status_code == 200
        assert "An unexpected error occurred" in response.text
        assert "Sign in" not in response.text


@pytest.mark.timeout(15)
def test_slow_waits_then_answers(portal: FlakyPortal) -> None:
    portal.set_mode("sign-in", "slow")
    began = time.monotonic()
    response = requests.get(portal.url_for("sign-in"), timeout=5)
    assert time.monotonic() - began >= 0.3
    assert response.status_code == 200
    assert "Sign in" in response.text


@pytest.mark.timeout(15)
def test_stop_does_not_wait_out_slow_requests() -> None:
    flaky = FlakyPortal(slow_seconds=60).start()
    flaky.set_mode("pr", "slow")
    answers: list[int] = []
    worker = threading.Thread(target=lambda: answers.append(requests.get(flaky.url_for("pr"), timeout=10).status_code))
    worker.start()
    while flaky.requests_served["pr"] == 0:
        time.sleep(0.01)
    began = time.monotonic()
    flaky.stop()
    worker.join()
    assert time.monotonic() - began < 5
    assert answers == [200]


@pytest.mark.timeout(15)
def test_override_cleared_returns_to_up(portal: FlakyPortal) -> None:
    portal.set_mode("employer", "down")
    assert portal.mode("employer") == "down"
    portal.clear_override("employer")
    assert portal.mode("employer") == "up"
    assert requests.get(portal.url_for("employer"), timeout=5).status_code == 200


@pytest.mark.timeout(15)
def test_invalid_component_or_mode_lists_valid_ones(portal: FlakyPortal) -> None:
    with pytest.raises(ValueError, match="sign-in"):
        portal.set_mode("nope", "down")
    with pytest.raises(ValueError, match="forbidden"):
        portal.set_mode("pr", "sideways")
    with pytest.raises(ValueError, match="employer"):
        portal.clear_override("nope")


@pytest.mark.timeout(15)
def test_index_links_components_and_unknown_path_is_404(portal: FlakyPortal) -> None:
    index = requests.get(portal.url + "/", timeout=5)
    assert index.status_code == 200
    for component in COMPONENTS:
        assert f'href="/{component}/"' in index.text
    assert requests.get(portal.url + "/nowhere", timeout=5).status_code == 404
    assert portal.requests_served == dict.fromkeys(COMPONENTS, 0)


@pytest.mark.timeout(15)
def test_schedule_windows_with_injected_clock() -> None:
    clock = FakeClock()
    schedule = [Window("pr", 10, 20, "down"), Window("employer", 15, 25, "broken")]
    flaky = FlakyPortal(schedule=schedule, clock=clock)
    expected = {0: "up", 9.99: "up", 10: "down", 19.99: "down", 20: "up", 1000: "up"}
    for offset, mode in expected.items():
        clock.now = 1000.0 + offset
        assert flaky.mode("pr") == mode, offset
    clock.now = 1017.0
    assert flaky.mode("employer") == "broken"
    assert flaky.mode("representative") == "up"


@pytest.mark.timeout(15)
def test_schedule_wraps_with_cycle() -> None:
    clock = FakeClock()
    flaky = FlakyPortal(schedule=[Window("pr", 10, 20, "down")], cycle_seconds=60, clock=clock)
    for offset, mode in {15: "down", 25: "up", 75: "down", 85: "up", 60 * 7 + 19.5: "down"}.items():
        clock.now = 1000.0 + offset
        assert flaky.mode("pr") == mode, offset


@pytest.mark.timeout(15)
def test_override_beats_schedule() -> None:
    clock = FakeClock()
    flaky = FlakyPortal(schedule=[Window("pr", 0, 60, "down")], clock=clock)
    flaky.set_mode("pr", "up")
    assert flaky.mode("pr") == "up"
    flaky.clear_override("pr")
    assert flaky.mode("pr") == "down"


@pytest.mark.timeout(15)
def test_schedule_drives_real_http_answers() -> None:
    clock = FakeClock()
    with FlakyPortal(schedule=DEFAULT_SCHEDULE, cycle_seconds=DEFAULT_CYCLE, clock=clock) as flaky:
        url = flaky.url_for("pr")
        assert requests.get(url, timeout=5).status_code == 200
        clock.now += 30
        assert requests.get(url, timeout=5).status_code == 503
        clock.now += 50
        assert requests.get(url, timeout=5).status_code == 200


@pytest.mark.timeout(15)
def test_default_schedule_tells_the_story_within_three_minutes() -> None:
    clock = FakeClock()
    flaky = FlakyPortal(schedule=DEFAULT_SCHEDULE, cycle_seconds=DEFAULT_CYCLE, clock=clock)
    assert DEFAULT_CYCLE <= 180

    def modes_at(offset: float) -> dict[str, str]:
        clock.now = 1000.0 + offset
        return {component: flaky.mode(component) for component in COMPONENTS}

    assert set(modes_at(0).values()) == {"up"}
    assert modes_at(30)["pr"] == "down"
    assert modes_at(80)["pr"] == "up"
    assert modes_at(100)["sign-in"] == "slow"
    assert modes_at(150)["representative"] == "forbidden"
    assert modes_at(DEFAULT_CYCLE + 30)["pr"] == "down"
    assert all(modes_at(second)["employer"] == "up" for second in range(int(DEFAULT_CYCLE)))


@pytest.mark.timeout(15)
def test_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Window("pr", 20, 10, "down")
    with pytest.raises(ValueError):
        Window("nope", 0, 10, "down")
    with pytest.raises(ValueError):
        Window("pr", 0, 10, "sideways")


@pytest.mark.timeout(15)
def test_control_api_over_http(portal: FlakyPortal) -> None:
    control = portal.url + "/_control"
    state = requests.get(control, timeout=5).json()
    assert state == {component: {"mode": "up", "override": False} for component in COMPONENTS}

    put = requests.put(control + "/pr", json={"mode": "down"}, timeout=5)
    assert put.status_code == 200
    assert put.json() == {"component": "pr", "mode": "down", "override": True}
    assert requests.get(portal.url_for("pr"), timeout=5).status_code == 503
    assert requests.get(control, timeout=5).json()["pr"] == {"mode": "down", "override": True}

    deleted = requests.delete(control + "/pr", timeout=5)
    assert deleted.status_code == 200
    assert deleted.json()["override"] is False
    assert requests.get(control, timeout=5).json()["pr"] == {"mode": "up", "override": False}
    assert requests.get(portal.url_for("pr"), timeout=5).status_code == 200


@pytest.mark.timeout(15)
def test_control_api_rejects_bad_input(portal: FlakyPortal) -> None:
    control = portal.url + "/_control"
    bad_component = requests.put(control + "/nope", json={"mode": "down"}, timeout=5)
    assert bad_component.status_code == 400
    assert "nope" in bad_component.json()["error"]
    bad_mode = requests.put(control + "/pr", json={"mode": "sideways"}, timeout=5)
    assert bad_mode.status_code == 400
    assert "sideways" in bad_mode.json()["error"]
    not_json = requests.put(control + "/pr", data="down", timeout=5)
    assert not_json.status_code == 400
    assert requests.delete(control + "/nope", timeout=5).status_code == 400
    assert portal.mode("pr") == "up"


@pytest.mark.timeout(15)
def test_portal_cli_serves_in_another_process() -> None:
    command = [sys.executable, "-m", "demo.portal", "--port", "0", "--no-schedule"]
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
            assert match, "the CLI should print its URL"
            url = match.group(0)
            assert requests.put(url + "/_control/employer", json={"mode": "down"}, timeout=5).ok
            assert requests.get(url + "/employer/", timeout=5).status_code == 503
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0


@pytest.mark.timeout(15)
def test_generate_cases_is_deterministic_and_well_formed() -> None:
    components = ["pr", "representative", "employer", "sign-in"]
    span = timedelta(minutes=10)
    first = generate_cases(200, start=START, span=span, components=components, seed=3)
    assert first == generate_cases(200, start=START, span=span, components=components, seed=3)
    assert first != generate_cases(200, start=START, span=span, components=components, seed=4)

    assert [case["case_id"] for case in first[:2]] == ["D-000001", "D-000002"]
    assert len({case["case_id"] for case in first}) == 200
    for case in first:
        picked = case["components"].split(";")
        assert 1 <= len(picked) <= 2 and len(set(picked)) == len(picked)
        assert set(picked) <= set(components)
        deadline = datetime.fromisoformat(case["deadline"])
        assert START <= deadline <= START + span
        assert deadline.utcoffset() == ZoneInfo(case["time_zone"]).utcoffset(deadline)
    assert len({case["time_zone"] for case in first}) > 5


@pytest.mark.timeout(15)
def test_deadlines_carry_their_zones_offset() -> None:
    cases = generate_cases(300, start=START, span=timedelta(hours=2), components=["pr"], seed=11)
    offsets = {case["time_zone"]: case["deadline"][-6:] for case in cases}
    assert offsets["Asia/Kolkata"] == "+05:30"
    assert offsets["Africa/Lagos"] == "+01:00"
    assert offsets["America/St_Johns"] == "-03:30"
    assert offsets["America/Toronto"] == "-05:00"


@pytest.mark.timeout(15)
def test_offset_follows_each_deadline_across_dst() -> None:
    # Toronto springs forward at 07:00 UTC that day, so one generated batch holds both offsets.
    start = datetime(2025, 3, 9, 6, 0, tzinfo=UTC)
    cases = generate_cases(300, start=start, span=timedelta(hours=2), components=["pr"], seed=5)
    toronto = [datetime.fromisoformat(c["deadline"]) for c in cases if c["time_zone"] == "America/Toronto"]
    switch = datetime(2025, 3, 9, 7, 0, tzinfo=UTC)
    assert {d.utcoffset() for d in toronto if d < switch} == {timedelta(hours=-5)}
    assert {d.utcoffset() for d in toronto if d >= switch} == {timedelta(hours=-4)}


@pytest.mark.timeout(15)
def test_generate_cases_rejects_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_cases(1, start=datetime(2025, 1, 1), span=timedelta(minutes=1), components=["pr"])


@pytest.mark.timeout(15)
def test_csv_header_and_rows(tmp_path: Path) -> None:
    cases = generate_cases(25, start=START, span=timedelta(minutes=5), components=["pr", "employer"])
    out = tmp_path / "cases.csv"
    assert write_cases_csv(cases, out) == 25
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["case_id", "components", "deadline", "time_zone", "access_code"]
    assert len(rows) == 26

    buffer = io.StringIO()
    write_cases_csv(cases, buffer)
    assert buffer.getvalue() == out.read_text(encoding="utf-8")


@pytest.mark.timeout(15)
def test_cases_cli_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cases.csv"
    argv = ["--count", "12", "--span", "10m", "--components", "pr,sign-in", "--out", str(out)]
    assert demo_cases.main(argv) == 0
    assert "12" in capsys.readouterr().out
    with out.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 12


@pytest.mark.timeout(15)
def test_parse_span() -> None:
    assert parse_span("10m") == timedelta(minutes=10)
    assert parse_span("2h") == timedelta(hours=2)
    assert parse_span("600s") == timedelta(seconds=600)
    assert parse_span("90") == timedelta(seconds=90)
    with pytest.raises(ValueError):
        parse_span("ten minutes")
