"""A bad configuration file is refused with the file, the line and the key path of every problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config, parse_config
from tests.conftest import ROOT
from tests.monitor.config.conftest import GOOD, problems_of


def test_the_reference_file_is_accepted() -> None:
    config = parse_config(GOOD, source="portalwatch.yaml")
    assert [c.id for c in config.components] == ["pr-portal", "employer-portal"]
    assert config.components[0].probes[0].interval.total_seconds() == 30


def test_a_bad_interval_names_its_line_and_key_path() -> None:
    text = GOOD.replace("interval: 1m", "interval: 5 parsecs")
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:18: components[1].probes[0].interval: ")
    assert "5 parsecs" in problems[0]


def test_an_unknown_key_is_refused_where_it_is_written() -> None:
    text = GOOD.replace("interval: 30s", "intervall: 30s")
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:12: components[0].probes[0].intervall: ")
    assert "not permitted" in problems[0]


def test_an_unknown_top_level_key_is_refused() -> None:
    problems = problems_of(GOOD + "thresholds: 3\n")
    assert problems == ["portalwatch.yaml:19: thresholds: Extra inputs are not permitted"]


def test_a_file_without_components_is_refused() -> None:
    text = GOOD.split("components:")[0]
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:1: components: ")
    assert "required" in problems[0].lower()


def test_an_empty_list_of_components_is_refused() -> None:
    problems = problems_of(GOOD.split("components:")[0] + "components: []\n")
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:5: components: ")


def test_a_component_without_probes_is_refused() -> None:
    text = GOOD.replace(
        """    probes:
      - id: employer-home
        url: "http://127.0.0.1:9/employer"
        interval: 1m
""",
        "",
    )
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:13: components[1].probes: ")


def test_every_problem_in_the_file_is_listed_at_once() -> None:
    text = GOOD.replace("interval: 30s", "interval: soon").replace("interval: 1m", "intervall: 1m")
    problems = problems_of(text)
    assert len(problems) == 2
    assert any(p.startswith("portalwatch.yaml:12: components[0].probes[0].interval: ") for p in problems)
    assert any(p.startswith("portalwatch.yaml:18: components[1].probes[0].intervall: ") for p in problems)


def test_a_duplicate_probe_id_names_the_second_declaration() -> None:
    text = GOOD.replace("id: employer-home", "id: pr-home")
    problems = problems_of(text)
    assert len(problems) == 1
    assert "'pr-home'" in problems[0]
    assert problems[0].endswith("is already used by components[0].probes[0]")
    # The operator must be sent to the duplicate, line 16, not to the top of the file.
    assert problems[0].startswith("portalwatch.yaml:16: components[1].probes[0].id: "), problems[0]


def test_a_duplicate_component_id_is_refused() -> None:
    text = GOOD.replace("id: employer-portal", "id: pr-portal")
    problems = problems_of(text)
    assert len(problems) == 1
    assert "'pr-portal'" in problems[0]
    assert problems[0].startswith("portalwatch.yaml:13: components[1].id: ")
    assert problems[0].endswith("is already used by components[0]")


def test_invalid_yaml_syntax_names_the_line() -> None:
    text = GOOD.replace('  url: "http://status.test/"\n', '  url: "http://status.test/"\n url: oops\n')
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:4: not valid YAML: ")


def test_a_tab_in_the_indentation_names_its_line() -> None:
    text = GOOD.replace("  time_zone: America/Toronto", "\ttime_zone: America/Toronto")
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:4: not valid YAML: ")


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    problems = problems_of("- just\n- a list\n")
    assert problems[0].startswith("portalwatch.yaml:1: ")


def test_an_unknown_page_time_zone_is_refused() -> None:
    text = GOOD.replace("America/Toronto", "America/Atlantis")
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:4: page.time_zone: ")
    assert "America/Atlantis" in problems[0]


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/", "127.0.0.1:9/", "http:///no-host", "file:///etc/passwd"],
)
def test_a_probe_url_must_be_http_or_https_with_a_host(url: str) -> None:
    text = GOOD.replace('"http://127.0.0.1:9/employer"', f'"{url}"')
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:17: components[1].probes[0].url: ")
    assert "http" in problems[0]


def test_a_component_id_with_capitals_is_refused() -> None:
    problems = problems_of(GOOD.replace("id: pr-portal", "id: PR Portal"))
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:6: components[0].id: ")


def test_load_config_names_the_file_it_read(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(GOOD.replace("interval: 1m", "interval: -5s"), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.path == str(path)
    assert raised.value.problems[0].startswith(f"{path}:18: components[1].probes[0].interval: ")
    assert str(path) in str(raised.value)


def test_load_config_of_a_missing_file_says_it_cannot_read_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems == [f"{path}: cannot read: No such file or directory"]


# --- the service refuses to start ---------------------------------------------------------------


def service_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTALWATCH_", "SLACK_", "REDIS_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'service.db'}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_monitor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=ROOT,
        env=service_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_to_start_on_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad-portalwatch.yaml"
    bad.write_text(GOOD.replace("interval: 1m", "interval: 5 parsecs"), encoding="utf-8")
    result = run_monitor(tmp_path, "serve", "--config", str(bad), "--port", "0")
    assert result.returncode == 2, result.stderr
    assert f"{bad}:18: components[1].probes[0].interval:" in result.stderr
    assert "will not start" in result.stderr
    assert not (tmp_path / "service.db").exists(), "nothing may be half-started on a bad file"


def test_serve_refuses_to_start_on_an_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(GOOD.replace("interval: 30s", "intervall: 30s"), encoding="utf-8")
    result = run_monitor(tmp_path, "serve", "--config", str(bad), "--port", "0")
    assert result.returncode == 2, result.stderr
    assert f"{bad}:12: components[0].probes[0].intervall:" in result.stderr


def test_migrate_refuses_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = run_monitor(tmp_path, "migrate", "--config", str(missing))
    assert result.returncode == 2, result.stderr
    assert f"{missing}: cannot read" in result.stderr


def test_migrate_accepts_the_good_file(tmp_path: Path) -> None:
    good = tmp_path / "portalwatch.yaml"
    good.write_text(GOOD, encoding="utf-8")
    result = run_monitor(tmp_path, "migrate", "--config", str(good))
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout


def test_locations_may_be_names_or_entries_with_a_control_url() -> None:
    toronto = '{name: toronto, control: "https://control.test/", control_timeout: 2s}'
    text = GOOD + f"locations:\n  - montreal\n  - {toronto}\n"
    config = parse_config(text, source="portalwatch.yaml")
    assert config.location_names == ["montreal", "toronto"]
    assert config.locations[0].control is None
    assert config.locations[1].control == "https://control.test/"
    assert config.locations[1].control_timeout.total_seconds() == 2


def test_a_control_url_that_is_not_http_is_refused_at_its_line_and_key_path() -> None:
    text = GOOD + "locations:\n  - montreal\n  - {name: toronto, control: ftp://control.test/}\n"
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith("portalwatch.yaml:21: locations[1].control: ")
    assert "http" in problems[0]


def test_the_same_location_twice_is_refused_whichever_shape_names_it() -> None:
    problems = problems_of(GOOD + "locations:\n  - toronto\n  - {name: toronto}\n")
    assert len(problems) == 1 and "unique" in problems[0]


def test_quorum_is_majority_or_a_number_of_locations_and_merge_gap_a_duration() -> None:
    config = parse_config(GOOD + "quorum: 2\nmerge_gap: 5m\n", source="portalwatch.yaml")
    assert config.quorum == 2 and config.merge_gap.total_seconds() == 300
    assert parse_config(GOOD, source="portalwatch.yaml").quorum == "majority"
    [problem] = problems_of(GOOD + "quorum: most\n")
    assert problem.startswith("portalwatch.yaml:19: quorum: ") and "majority or a number" in problem
    [problem] = problems_of(GOOD + "quorum: 0\n")
    assert "at least 1" in problem
