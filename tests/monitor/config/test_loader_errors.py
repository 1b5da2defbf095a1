"""Every way a configuration file can be wrong ends in ConfigError: the file, the line, the key path.

Never another exception (a traceback instead of "will not start"), never a hang, never a file that
loads but means something other than what it says.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.config import Config, ConfigError, load_config, parse_config
from monitor.config.loader import MAX_BYTES, MAX_DEPTH, MAX_NUMBER_CHARS, MAX_VALUES
from probes.duration import parse_duration
from tests.monitor.config.conftest import GOOD, problems_of

ROOT = Path(__file__).resolve().parents[3]


def file_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.path == str(path)
    return raised.value.problems


def test_the_reference_text_is_accepted() -> None:
    assert isinstance(parse_config(GOOD), Config)


# --- a key given twice -----------------------------------------------------------------------------


def test_a_key_given_twice_is_refused_with_the_line_of_the_repeat() -> None:
    text = GOOD.replace("        interval: 30s\n", "        interval: 30s\n        interval: 1h\n")
    assert problems_of(text) == [
        "portalwatch.yaml:13: components[0].probes[0].interval: duplicate key; first given on line 12"
    ]


def test_a_section_given_twice_is_refused_rather_than_the_first_one_dropped() -> None:
    text = GOOD + "components:\n  - {id: other, name: Other, probes: [{id: other-home, url: 'http://o/'}]}\n"
    assert problems_of(text) == ["portalwatch.yaml:19: components: duplicate key; first given on line 5"]


def test_a_key_given_twice_in_a_flow_mapping_is_refused() -> None:
    text = GOOD.replace(
        "  time_zone: America/Toronto\n", "  time_zone: America/Toronto\nrelief: {grace_days: 7, grace_days: 30}\n"
    )
    assert problems_of(text) == ["portalwatch.yaml:5: relief.grace_days: duplicate key; first given on line 5"]


def test_a_key_written_once_quoted_and_once_plain_is_the_same_key() -> None:
    text = GOOD.replace("        interval: 30s\n", '        interval: 30s\n        "interval": 1h\n')
    assert problems_of(text) == [
        "portalwatch.yaml:13: components[0].probes[0].interval: duplicate key; first given on line 12"
    ]


def test_every_repeated_key_in_the_file_is_listed_at_once() -> None:
    text = GOOD.replace("  name: Test portal status\n", "  name: Test portal status\n  name: Again\n")
    text = text.replace("        interval: 1m\n", "        interval: 1m\n        interval: 2m\n")
    assert problems_of(text) == [
        "portalwatch.yaml:3: page.name: duplicate key; first given on line 2",
        "portalwatch.yaml:20: components[1].probes[0].interval: duplicate key; first given on line 19",
    ]


MERGED = """\
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - &defaults
        id: pr-home
        url: "http://127.0.0.1:9/"
        interval: 30s
      - <<: *defaults
        id: pr-login
        interval: 1m
"""


def test_a_key_may_override_one_merged_from_defaults() -> None:
    probes = parse_config(MERGED).components[0].probes
    assert [(p.id, p.interval.total_seconds()) for p in probes] == [("pr-home", 30), ("pr-login", 60)]


def test_a_problem_in_merged_defaults_is_reported_where_the_defaults_write_it() -> None:
    text = MERGED.replace("        interval: 1m\n", "").replace("interval: 30s", "interval: soon")
    assert sorted(problems_of(text)) == [
        f"portalwatch.yaml:8: components[0].probes[{i}].interval: expected a duration such as 5s, 500ms or 2m, "
        "got 'soon'"
        for i in (0, 1)
    ]


# --- probe kinds -----------------------------------------------------------------------------------


def test_an_unknown_probe_type_is_refused_at_the_type_line_with_what_it_said() -> None:
    assert problems_of(GOOD.replace("type: http", "type: smoke-signal")) == [
        "portalwatch.yaml:10: components[0].probes[0].type: "
        "type must be one of http, tcp, dns, tls, steps, browser, got 'smoke-signal'"
    ]


def test_a_probe_problem_is_reported_by_key_path_without_the_kind() -> None:
    assert problems_of(GOOD.replace("interval: 30s", "interval: fast")) == [
        "portalwatch.yaml:12: components[0].probes[0].interval: expected a duration such as 5s, 500ms or 2m, got 'fast'"
    ]


def test_a_probe_key_named_like_a_kind_keeps_its_name() -> None:
    assert problems_of(GOOD.replace("        type: http\n", "        type: http\n        http: yes\n")) == [
        "portalwatch.yaml:11: components[0].probes[0].http: Extra inputs are not permitted"
    ]


# --- text YAML cannot read -------------------------------------------------------------------------


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\x9b", "\ud800", "\ufffe"])
def test_a_character_yaml_forbids_is_refused_with_its_line(character: str) -> None:
    problems = problems_of(GOOD.replace("Employer portal", f"Employer{character}portal"))
    assert problems == [
        f"portalwatch.yaml:14: not valid YAML: character U+{ord(character):04X} is not allowed in a YAML file"
    ]


def test_a_byte_order_mark_in_the_middle_of_the_text_is_refused_with_its_line() -> None:
    # Two files joined: the second one's mark would otherwise become part of the key `page`.
    assert problems_of(GOOD + "\ufeffpage: {}\n") == [
        "portalwatch.yaml:19: not valid YAML: a byte-order mark (U+FEFF) is only allowed at the start of the file"
    ]


def test_a_key_with_an_invisible_character_is_shown_quoted() -> None:
    assert problems_of(GOOD.replace('  url: "http://status.test/"', "  u\u200brl: x")) == [
        "portalwatch.yaml:3: page.'u\\u200brl': Extra inputs are not permitted"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0x_", "'0x_' is not a number"),
        ("-0b_", "'-0b_' is not a number"),
        ("!!int ''", "'' is not a number"),
        ("!!float abc", "'abc' is not a number"),
        ("!!bool maybe", "'maybe' is not true or false"),
        ("!!timestamp soon", "'soon' is not a date"),
        ("2020-02-30", "'2020-02-30' is not a date"),
        ("2020-01-01T00:00:00+99:00", "'2020-01-01T00:00:00+99:00' is not a date"),
        ("7" * 5000, f"a number of more than {MAX_NUMBER_CHARS} characters"),
        ("1" + ":1" * 20000, f"a number of more than {MAX_NUMBER_CHARS} characters"),
    ],
)
def test_a_scalar_that_looks_like_a_value_but_is_none_is_refused_with_its_line(value: str, message: str) -> None:
    problems = problems_of(GOOD.replace("  name: Test portal status", f"  name: {value}"))
    assert problems == [f"portalwatch.yaml:2: not valid YAML: {message}"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("1", "key '1' is not text (YAML reads it as a number); put it in quotes if it is a name"),
        ("on", "key 'on' is not text (YAML reads it as true or false); put it in quotes if it is a name"),
        ("null", "key 'null' is not text (YAML reads it as null); put it in quotes if it is a name"),
        ("2020-01-01", "key '2020-01-01' is not text (YAML reads it as a date); put it in quotes if it is a name"),
        ("[a, b]", "a list cannot be a key"),
        ("{a: b}", "a mapping cannot be a key"),
    ],
)
def test_a_key_that_is_not_text_is_refused_with_its_line(key: str, message: str) -> None:
    text = GOOD.replace("    name: Employer portal\n", f"    name: Employer portal\n    ? {key}\n    : x\n")
    assert problems_of(text) == [f"portalwatch.yaml:15: components[1]: {message}"]


def test_a_header_name_yaml_reads_as_true_is_refused_not_mangled() -> None:
    text = GOOD.replace("        interval: 1m\n", "        interval: 1m\n        headers: {on: yes}\n")
    assert problems_of(text) == [
        "portalwatch.yaml:19: components[1].probes[0].headers: key 'on' is not text (YAML reads it as true or false);"
        " put it in quotes if it is a name"
    ]


# --- structures that would never end, or take the host down ----------------------------------------


@pytest.mark.parametrize("text", ["components: &a [*a]\n", "components: &a {x: [1, *a]}\n", "a: &a\n  b: &b [*a]\n"])
def test_an_alias_inside_the_value_it_names_is_refused_with_its_line(text: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith(f"portalwatch.yaml:{text.count(chr(10))}: alias *a is used inside the value it names")


@pytest.mark.timeout(20)
def test_an_alias_bomb_is_refused_quickly_at_the_line_that_explodes() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]  # 10**10 values
    started = time.monotonic()
    problems = problems_of("\n".join(lines) + "\n")
    assert time.monotonic() - started < 5
    # a4 expands to 111,111 values, the first past the limit.
    assert problems == [
        f"portalwatch.yaml:5: holds more than {MAX_VALUES} values, counting each use of an alias in full"
    ]


def test_nesting_too_deep_is_refused_instead_of_exhausting_the_stack() -> None:
    problems = problems_of("components: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problems == [f"portalwatch.yaml:1: values are nested more than {MAX_DEPTH} levels deep"]


def test_nesting_too_deep_through_aliases_is_refused() -> None:
    level = MAX_DEPTH // 2
    text = f"a: &a {'[' * level}x{']' * level}\nb: &b {'[' * level}*a{']' * level}\nc: {'[' * level}*b{']' * level}\n"
    problems = problems_of(text)
    assert problems == [
        f"portalwatch.yaml:2: values are nested more than {MAX_DEPTH} levels deep once aliases are expanded"
    ]


def test_aliases_within_the_bounds_are_read() -> None:
    text = GOOD.replace("  name: Test portal status", "  name: &name Test portal status")
    text = text.replace("    name: Employer portal", "    name: *name")
    assert parse_config(text).components[1].name == "Test portal status"


@pytest.mark.parametrize("text", ["# " + "x" * MAX_BYTES, "# " + "é" * (MAX_BYTES // 2)])
def test_a_text_over_one_mebibyte_is_refused(text: str) -> None:
    assert problems_of(text) == ["portalwatch.yaml:1: larger than 1 MiB; a configuration is a few kilobytes"]


def test_a_huge_duration_is_refused_as_a_duration() -> None:
    assert problems_of(GOOD.replace("interval: 30s", "interval: 99999999999999999999d")) == [
        "portalwatch.yaml:12: components[0].probes[0].interval: '99999999999999999999d' is longer than any duration "
        "PortalWatch can use"
    ]


def test_a_whole_number_of_seconds_too_large_for_a_float_is_called_too_long() -> None:
    # Stored specs and the demo call the parser directly, without YAML's limit on a number's length.
    with pytest.raises(ValueError, match="longer than any duration"):
        parse_duration(10**400)


def test_a_duration_that_is_not_a_number_is_not_called_too_long() -> None:
    assert problems_of(GOOD.replace("interval: 30s", "interval: .nan")) == [
        "portalwatch.yaml:12: components[0].probes[0].interval: expected a duration such as 5s, 500ms or 2m, got nan"
    ]


# --- time zones ------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["localtime", "/etc/localtime", "../x", "America/../UTC", "posixrules", "''"])
def test_a_time_zone_must_be_an_iana_name(zone: str) -> None:
    problems = problems_of(GOOD.replace("time_zone: America/Toronto", f"time_zone: {zone}"))
    assert problems == [
        f"portalwatch.yaml:4: page.time_zone: unknown time zone {zone.strip(chr(39))!r}; "
        "use an IANA name such as America/Toronto"
    ]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Etc/GMT+5", "US/Eastern"])
def test_iana_zone_names_and_their_links_are_accepted(zone: str) -> None:
    assert parse_config(GOOD.replace("America/Toronto", zone)).page.time_zone == zone


# --- reading the file ------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("Employer portal", "Employeur égaré").encode("latin-1"))
    assert file_problems(path) == [f"{path}:14: not UTF-8 text (byte 0xe9); save the file as UTF-8"]


def test_a_utf16_file_is_refused_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "utf16.yaml"
    path.write_bytes(GOOD.encode("utf-16"))
    assert file_problems(path) == [f"{path}:1: not UTF-8 text (byte 0xff); save the file as UTF-8"]


def test_a_file_starting_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(GOOD.encode("utf-8-sig"))
    assert load_config(path).page.name == "Test portal status"


def test_a_nul_byte_in_a_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(GOOD.replace("interval: 1m", "interval: 1m\x00").encode())
    assert file_problems(path) == [f"{path}:18: not valid YAML: character U+0000 is not allowed in a YAML file"]


def test_a_tab_indenting_a_key_in_a_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text(GOOD.replace("        interval: 1m", "\tinterval: 1m"), encoding="utf-8")
    problems = file_problems(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:18: not valid YAML: ")


def test_a_file_with_windows_line_endings_reports_the_same_lines(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(GOOD.replace("interval: 1m", "interval: soon").replace("\n", "\r\n").encode())
    assert file_problems(path) == [
        f"{path}:18: components[1].probes[0].interval: expected a duration such as 5s, 500ms or 2m, got 'soon'"
    ]


def test_a_directory_is_refused_as_unreadable(tmp_path: Path) -> None:
    assert file_problems(tmp_path) == [f"{tmp_path}: cannot read: Is a directory"]


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(GOOD.encode() + b"#" * MAX_BYTES)
    assert file_problems(path) == [f"{path}:1: larger than 1 MiB; a configuration is a few kilobytes"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_refused_without_reading_it_all() -> None:
    assert file_problems(Path("/dev/zero")) == ["/dev/zero:1: larger than 1 MiB; a configuration is a few kilobytes"]


# --- the service refuses to start ------------------------------------------------------------------

ALIAS_BOMB = "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10 if i else ['x'] * 10)}]\n" for i in range(10))
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "a repeated key": (GOOD.replace("interval: 1m", "interval: 1m\n        interval: 1h").encode(), ":19: "),
    "a control character": (GOOD.replace("Employer portal", "Employer\x01portal").encode(), ":14: not valid YAML"),
    "an alias bomb": (ALIAS_BOMB.encode(), ":5: holds more than"),
    "a recursive alias": (b"components: &a [*a]\n", ":1: alias *a is used inside"),
    "a number YAML cannot read": (GOOD.replace("Test portal status", "0x_").encode(), ":2: not valid YAML: '0x_'"),
    "a key that is not text": (GOOD.encode() + b"1: x\n", ":19: (top level): key '1' is not text"),
    "a host time zone": (GOOD.replace("America/Toronto", "localtime").encode(), ":4: page.time_zone: unknown"),
    "an unknown probe type": (
        GOOD.replace("type: http", "type: smoke-signal").encode(),
        ":10: components[0].probes[0].type:",
    ),
    "bytes that are not UTF-8": (b"page:\n  name: \xff\n", ":2: not UTF-8 text"),
}


def run_monitor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTALWATCH_", "SLACK_", "REDIS_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'service.db'}"
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("kind", BAD_FILES)
def test_the_service_will_not_start_on_a_bad_file_and_says_why(tmp_path: Path, kind: str) -> None:
    content, expected = BAD_FILES[kind]
    path = tmp_path / "portalwatch.yaml"
    path.write_bytes(content)
    result = run_monitor(tmp_path, "migrate", "--config", str(path))
    assert result.returncode == 2, result.stderr
    assert "PortalWatch will not start" in result.stderr
    assert f"{path}{expected}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "service.db").exists(), "nothing may be half-started on a bad file"


def test_the_service_will_not_start_on_a_directory(tmp_path: Path) -> None:
    result = run_monitor(tmp_path, "migrate", "--config", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert f"{tmp_path}: cannot read: Is a directory" in result.stderr
    assert "Traceback" not in result.stderr
