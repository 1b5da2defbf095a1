"""The probe engine: every check gets exactly one answer, in groups as they finish, whatever its runner does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

import probes.engine as engine_module
from probes.engine import ProbeEngine
from probes.http import HttpProbeSpec
from probes.result import CheckResult, ErrorClass

pytestmark = pytest.mark.timeout(30)


def spec(probe_id: str, timeout: float = 1.0) -> HttpProbeSpec:
    return HttpProbeSpec(id=probe_id, url="http://127.0.0.1:9/", timeout=timedelta(seconds=timeout))


@pytest.fixture
def engine() -> Iterator[ProbeEngine[str]]:
    running: ProbeEngine[str] = ProbeEngine(concurrency=50)
    yield running
    running.close()


def fake_runner(behaviour: dict[str, Any]) -> Any:
    async def run(probe_spec: HttpProbeSpec, location: str, *, session: Any) -> CheckResult:
        what = behaviour.get(probe_spec.id, 0.0)
        if isinstance(what, BaseException):
            raise what
        await asyncio.sleep(what)
        return CheckResult(probe_spec.id, location, engine_module.datetime.now(engine_module.UTC), True, latency_ms=1.0)

    return run


def test_every_item_gets_one_result_tagged_as_it_was_given(
    engine: ProbeEngine[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "run_probe_async", fake_runner({}))
    items = [(f"tag-{n}", spec(f"p{n}")) for n in range(120)]
    results = [pair for group in engine.stream(items, "montreal") for pair in group]
    assert sorted(tag for tag, _ in results) == sorted(tag for tag, _ in items)
    assert all(result.location == "montreal" and result.ok for _, result in results)


def test_fast_results_come_back_in_a_group_before_a_slow_one(
    engine: ProbeEngine[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "run_probe_async", fake_runner({"slow": 0.5}))
    items = [(f"p{n}", spec(f"p{n}")) for n in range(30)] + [("slow", spec("slow"))]
    groups = [[tag for tag, _ in group] for group in engine.stream(items, "local")]
    assert groups[-1] == ["slow"]
    assert sum(len(group) for group in groups[:-1]) == 30


def test_a_runner_that_raises_gives_a_failed_check_saying_so_and_the_others_are_unharmed(
    engine: ProbeEngine[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(engine_module, "run_probe_async", fake_runner({"bad": ValueError("boom")}))
    results = dict(
        pair for group in engine.stream([("bad", spec("bad")), ("good", spec("good"))], "local") for pair in group
    )
    assert results["good"].ok
    bad = results["bad"]
    assert (bad.ok, bad.error_class) == (False, ErrorClass.PROBE)
    assert bad.error == "the probe could not run: ValueError: boom"
    assert "its runner raised" in caplog.text


def test_a_runner_that_outlives_its_own_deadline_is_stopped_by_the_backstop(
    engine: ProbeEngine[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "BACKSTOP_SECONDS", 0.2)
    monkeypatch.setattr(engine_module, "run_probe_async", fake_runner({"stuck": 60.0}))
    [[(_, result)]] = list(engine.stream([("stuck", spec("stuck", timeout=0.1))], "local"))
    assert (result.ok, result.error_class) == (False, ErrorClass.TIMEOUT)


def test_batches_from_many_threads_share_one_loop(engine: ProbeEngine[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "run_probe_async", fake_runner({}))
    counts: list[int] = []

    def batch(n: int) -> None:
        counts.append(sum(len(g) for g in engine.stream([(f"{n}-{i}", spec(f"p{i}")) for i in range(20)], "local")))

    threads = [threading.Thread(target=batch, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert counts == [20] * 8
    assert [t.name for t in threading.enumerate()].count("probe-engine") == 1


def test_a_closed_engine_starts_again_when_used(engine: ProbeEngine[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "run_probe_async", fake_runner({}))
    assert len(list(engine.stream([("a", spec("a"))], "local"))) == 1
    engine.close()
    assert "running=False" in repr(engine)
    assert len(list(engine.stream([("b", spec("b"))], "local"))) == 1
