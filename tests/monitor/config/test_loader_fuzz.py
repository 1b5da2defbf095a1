"""Whatever text it is given, parse_config answers with a Config or a ConfigError that says where.

The service's only promise about a bad file is the clean "will not start" message naming the file and
the line of each problem; any other exception is a crash with a traceback. These properties feed it
arbitrary text, YAML shaped like a configuration with wrong, huge and repeated values, and the demo
configuration with lines and characters deleted, repeated and inserted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import Config, ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[3]
DEMO = (ROOT / "demo" / "portalwatch.yaml").read_text(encoding="utf-8")
SOURCE = "fuzz/portal watch.yaml"
PROBLEM_LINE = re.compile(rf"^{re.escape(SOURCE)}:\d+: ")

# Bounded so the whole file runs in a few seconds. No example database: a failure is reported with the
# falsifying example to copy into test_loader_errors.py, not replayed from a local .hypothesis/ cache.
FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Characters that break YAML in interesting ways: controls, a lone surrogate, a BOM, odd line breaks.
ODD_CHARACTERS = list("\x00\x01\x1b\x7f\ud800\ufeff\t\r\x85\u2028\u00e9\U0001f600")
YAML_PUNCTUATION = list(":-[]{},&*!|>'\"%@`#?<= \n")


def assert_answers_cleanly(text: str) -> None:
    try:
        config = parse_config(text, source=SOURCE)
    except ConfigError as exc:
        assert exc.path == SOURCE
        assert exc.problems, "a ConfigError must list at least one problem"
        for problem in exc.problems:
            assert PROBLEM_LINE.match(problem), problem
            assert "\n" not in problem, problem
    else:
        assert isinstance(config, Config)


# --- (a) arbitrary text ----------------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text_is_a_config_or_a_config_error(text: str) -> None:
    assert_answers_cleanly(text)


@FUZZ
@given(st.text(alphabet=st.sampled_from(YAML_PUNCTUATION + ODD_CHARACTERS + list("aZ09._/")), max_size=200))
def test_yaml_punctuation_and_control_characters_are_a_config_or_a_config_error(text: str) -> None:
    assert_answers_cleanly(text)


# --- (b) configuration-shaped YAML ------------------------------------------------------------------


@dataclass
class Seq:
    items: list[Node]
    flow: bool = False
    anchor: str = ""


@dataclass
class Map:
    pairs: list[tuple[str, Node]] = field(default_factory=list)
    flow: bool = False
    anchor: str = ""


Node = str | Seq | Map

UNITS = ["", "ms", "s", "m", "h", "d", " s", "parsecs", "S"]
durations = st.one_of(
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(-10, 10**30), st.sampled_from(UNITS)),
    st.builds(lambda n, unit: f"{n}{unit}", st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(UNITS)),
    st.sampled_from(["fast", "'5s'", ".inf", ".nan", "-.inf", "1e400", "99999999999999999999d", "1:30", "~", ""]),
)
zones = st.sampled_from(
    ["America/Toronto", "UTC", "Etc/GMT+5", "localtime", "/etc/localtime", "../x", "America/../UTC", "posixrules",
     "right/UTC", "posix/UTC", "America/Atlantis", "''", "Factory", "'America/Toronto '", "!!binary AAAA"]
)  # fmt: skip
urls = st.sampled_from(
    ['"http://127.0.0.1:9/"', "https://status.test/x", "ftp://x/", '"http://[::1/"', '"http://a:99999/"', "http://",
     '"file:///etc/passwd"', "127.0.0.1:9/", "''"]
)  # fmt: skip
ids = st.one_of(
    st.sampled_from(["pr-portal", "pr-home", "a", "A B", "''", "-x", "x" * 70, "1", "yes"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        ["0x_", "0b_", "-0x_", "0o7", "1_000", "1:30:00", "7" * 5000, "0x" + "f" * 400, "1e400", ".nan", "true"]
    ),
)
odd_scalars = st.sampled_from(
    ["!!int x", "!!bool maybe", "!!timestamp nope", "!!float abc", "!!binary ???", "!!set {a, b}", "!!str 1",
     "!!python/name:os.system", "!foo bar", "2020-13-45", "2020-02-30", "2020-01-01T00:00:00+99:00", "!!omap [a]",
     "!!merge x", "*a", "*b", "*nowhere", "null", "~", "on", "[]", "{}", "'it''s'", '"\\x00"', '"\\ud800"', "|\n  x"]
)  # fmt: skip
texts = st.text(alphabet=st.sampled_from(list("abcXYZ019 -_./'\"#&*:") + ODD_CHARACTERS), max_size=12)
scalars = st.one_of(durations, zones, urls, ids, numbers, odd_scalars, texts)

PLAIN_KEYS = ["page", "name", "url", "time_zone", "id", "locations", "failure_threshold", "recovery_threshold",
              "relief", "grace_days", "interval", "timeout", "components", "description", "probes", "type", "method",
              "headers", "body", "expect_status", "body_contains", "max_latency"]  # fmt: skip
ODD_KEYS = ["http", "tcp", "<<", "1", "on", "null", "~", "'quoted'", '"interval"', "2020-01-01", "[a, b]", "{a: b}",
            "? [x]", "!!int 3", "&a key", "*a", "0x_", "'\\t'", "intervall"]  # fmt: skip
keys = st.sampled_from(PLAIN_KEYS + ODD_KEYS)
anchors = st.sampled_from(["", "", "", "&a ", "&b "])


def junk() -> st.SearchStrategy[Node]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.builds(Seq, st.lists(children, max_size=3), st.booleans(), anchors),
            st.builds(Map, st.lists(st.tuples(keys, children), max_size=3), st.booleans(), anchors),
        ),
        max_leaves=8,
    )


@st.composite
def mapping(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Node]]) -> Map:
    """Usually the expected keys with plausible values; sometimes one missing, repeated or joined by junk."""
    pairs: list[tuple[str, Node]] = []
    for key, values in fields.items():
        if draw(st.integers(0, 9)) < 8:
            pairs.append((key, draw(values)))
        if draw(st.integers(0, 19)) == 0:
            pairs.append((key, draw(values)))
    pairs += draw(st.lists(st.tuples(keys, junk()), max_size=1))
    return Map(draw(st.permutations(pairs)), draw(st.booleans()), draw(anchors))


def seq(items: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(st.builds(Seq, st.lists(items, max_size=3), st.booleans(), anchors), scalars)


probe = mapping(
    {
        "id": ids,
        "type": st.sampled_from(["http", "tcp", "HTTP", "3", "[http]", "null", "*a"]),
        "url": urls,
        "interval": durations,
        "timeout": durations,
        "max_latency": durations,
        "method": st.sampled_from(["GET", "head", "FETCH", "1"]),
        "headers": mapping({"Accept": texts, "X-Id": numbers}),
        "expect_status": seq(numbers),
        "body_contains": texts,
        "failure_threshold": numbers,
    }
)
component = mapping({"id": ids, "name": texts, "description": texts, "probes": seq(probe)})
configs = mapping(
    {
        "page": mapping({"id": ids, "name": texts, "url": urls, "time_zone": zones}),
        "locations": seq(ids),
        "failure_threshold": numbers,
        "recovery_threshold": numbers,
        "relief": mapping({"grace_days": numbers, "interval": durations}),
        "components": seq(component),
    }
)


def flow(node: Node) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, Seq):
        return node.anchor + "[" + ", ".join(flow(item) for item in node.items) + "]"
    return node.anchor + "{" + ", ".join(f"{key}: {flow(value)}" for key, value in node.pairs) + "}"


def block(node: Node, indent: int) -> list[str]:
    pad = " " * indent
    entries = [("- ", item) for item in node.items] if isinstance(node, Seq) else []
    if isinstance(node, Map):
        entries = [(f"{key}: ", value) for key, value in node.pairs]
    lines: list[str] = []
    for lead, value in entries:
        if isinstance(value, str) or value.flow or not (value.items if isinstance(value, Seq) else value.pairs):
            lines.append(f"{pad}{lead}{flow(value)}")
        else:
            lines.append(f"{pad}{lead}{value.anchor}".rstrip())
            lines += block(value, indent + 2)
    return lines


def render(config: Map) -> str:
    return "\n".join(block(Map(config.pairs), 0)) + "\n"


@FUZZ
@given(configs)
def test_configuration_shaped_yaml_is_a_config_or_a_config_error(config: Map) -> None:
    assert_answers_cleanly(render(config))


# --- (c) the demo configuration, damaged ------------------------------------------------------------

DEMO_LINES = DEMO.splitlines(keepends=True)
ODD_LINES = ["\tinterval: 5s\n", "  ? [a, b]\n  : c\n", "x: &x [*x]\n", "<<: *nowhere\n", "1: x\n", "---\n",
             "...\n", "%YAML 1.1\n", "  - {id: pr-home, type: tcp}\n", "page: {time_zone: localtime}\n"]  # fmt: skip
characters = st.one_of(st.sampled_from(YAML_PUNCTUATION + ODD_CHARACTERS), st.characters())
position = st.integers(0, 10**6)
mutations = st.one_of(
    st.tuples(st.just("delete line"), position, st.just("")),
    st.tuples(st.just("repeat line"), position, st.just("")),
    st.tuples(st.just("insert line"), position, st.sampled_from(DEMO_LINES + ODD_LINES)),
    st.tuples(st.just("delete character"), position, st.just("")),
    st.tuples(st.just("insert character"), position, characters),
    st.tuples(st.just("replace character"), position, characters),
)


def mutate(text: str, how: str, where: int, what: str) -> str:
    if how.endswith("line"):
        lines = text.splitlines(keepends=True) or [""]
        i = where % len(lines)
        new = {"delete line": [], "repeat line": [lines[i], lines[i]], "insert line": [what, lines[i]]}[how]
        return "".join(lines[:i] + new + lines[i + 1 :])
    i = where % (len(text) + 1)
    if how == "insert character":
        return text[:i] + what + text[i:]
    return text[:i] + (what if how == "replace character" else "") + text[i + 1 :]


@FUZZ
@given(st.lists(mutations, min_size=1, max_size=5))
def test_the_demo_configuration_damaged_is_a_config_or_a_config_error(changes: list[tuple[str, int, str]]) -> None:
    text = DEMO
    for how, where, what in changes:
        text = mutate(text, how, where, what)
    assert_answers_cleanly(text)


def test_the_undamaged_demo_configuration_is_accepted() -> None:
    assert isinstance(parse_config(DEMO, source=SOURCE), Config)
