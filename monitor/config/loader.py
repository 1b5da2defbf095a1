"""The YAML file that declares what PortalWatch watches, validated before anything starts.

A bad file never half-starts the service: `load_config` raises ConfigError listing every problem
with the file, the line and the key path, e.g. `portalwatch.yaml:14: components[0].probes[0].interval: ...`.
Whatever the text, the answer is a Config or a ConfigError: never another exception, never a hang.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.events import AliasEvent, CollectionStartEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from monitor.config.model import Config
from probes.registry import KINDS

# A configuration is a few kilobytes; these bounds only ever stop mistakes and hostile files, such as
# an alias bomb (each line doubling the one before), before they cost minutes of CPU or gigabytes.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64  # nesting levels, counting what aliases bring in; the configuration's own shape needs 7
MAX_VALUES = 100_000  # scalars, lists and mappings once every alias is expanded
MAX_NUMBER_CHARS = 100  # PyYAML's base-60 integers (`1:2:3:...`) cost quadratic time in their length

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TAG_NAMES = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
}
_KIND_NAMES = frozenset(kind.name for kind in KINDS)
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # what YAML counts as a new line
_KEY = object()  # stands in the key path for a node that is itself a mapping key
_TIME_OF_DAY = re.compile(r"[0-9]+(?::[0-9]+)+")  # what YAML 1.1 reads as a base-60 integer
_SHORTENER = reprlib.Repr()  # a value quoted back to the operator; the file itself holds the rest
_SHORTENER.maxstring = _SHORTENER.maxother = 60
_short = _SHORTENER.repr
# Events carry a yaml.error.Mark; the stubs also allow the C extension's Mark, which the pure-Python
# loader used here never makes, and None.
_Mark = Any


class ConfigError(Exception):
    """A configuration file that cannot be used; `problems` are `file:line: key.path: message` lines."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"invalid configuration {path}:\n  " + "\n  ".join(problems))


def load_config(path: str | Path) -> Config:
    path = Path(path)
    raw = _read(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_at(raw[: exc.start].decode("utf-8", "replace"))
        problem = f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        raise ConfigError(str(path), [problem]) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<config>") -> Config:
    # The character count is checked first so that a huge text is never copied just to be measured.
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(source, [_too_large(source)])
    _refuse_inner_byte_order_mark(text, source)
    data, lines = _read_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError(source, [f"{source}:1: the file must be a mapping with at least `components`"])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = [_validation_problem(source, lines, error) for error in exc.errors(include_url=False)]
        raise ConfigError(source, problems) from None
    duplicates = [
        _problem(source, lines, loc, msg) for loc, msg in chain(_duplicate_ids(config), _maintenance_problems(config))
    ]
    if duplicates:
        raise ConfigError(source, duplicates)
    return config


# --- reading -------------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            # One byte past the limit tells a file that is too large without reading all of it (/dev/zero).
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(str(path), [_too_large(str(path))])
    return raw


def _too_large(source: str) -> str:
    return f"{source}:1: larger than {MAX_BYTES // 1024 // 1024} MiB; a configuration is a few kilobytes"


def _refuse_inner_byte_order_mark(text: str, source: str) -> None:
    # YAML skips a byte-order mark only at the very start; elsewhere (two files joined) it silently
    # becomes part of a key, and `page` is then refused as an unknown key that reads exactly like `page`.
    position = text.find("\ufeff", 1)
    if position != -1:
        line = _line_at(text[:position])
        message = "a byte-order mark (U+FEFF) is only allowed at the start of the file"
        raise ConfigError(source, [f"{source}:{line}: not valid YAML: {message}"])


def _read_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """The document's data, built once from the checked node graph, and the line of every key path."""
    try:
        loader = _Loader(text)
    except ReaderError as exc:
        # Raised for a control character or a lone surrogate; it carries a position, not a mark.
        line = _line_at(text[: exc.position])
        problem = f"{source}:{line}: not valid YAML: character U+{exc.character:04X} is not allowed in a YAML file"
        raise ConfigError(source, [problem]) from None
    try:
        node = loader.get_single_node()
        if loader.problems:
            problems = sorted(loader.problems, key=lambda problem: problem[0])
            raise ConfigError(source, [f"{source}:{line}: {_key_path(loc)}: {msg}" for line, loc, msg in problems])
        data = None if node is None else loader.construct_document(node)
    except MarkedYAMLError as exc:
        raise ConfigError(source, [_yaml_problem(source, exc)]) from None
    finally:
        loader.dispose()
    return data, loader.lines


def _yaml_problem(source: str, exc: MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    line = f"{mark.line + 1}" if mark is not None else "1"
    message = exc.problem or str(exc)
    if not isinstance(exc, _Refused):
        message = f"not valid YAML: {message}"
    return f"{source}:{line}: {_one_line(message)}"


def _line_at(prefix: str) -> int:
    return len(_LINE_BREAK.findall(prefix)) + 1


def _line_of(mark: _Mark) -> int:
    return 1 if mark is None else mark.line + 1


class _Refused(MarkedYAMLError):
    """Valid YAML that PortalWatch will not load: too deep, too large once expanded, or endless."""

    def __init__(self, problem: str, mark: _Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader that checks the node graph while composing it, before any Python data is built.

    It refuses a key given twice (PyYAML keeps the last silently), a key that is not text, aliases
    that would expand past MAX_VALUES or nest past MAX_DEPTH, and an alias used inside the value it
    names (a recursive structure); on the way it records the line of every key path.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines: dict[tuple[Any, ...], int] = {}
        self.problems: list[tuple[int, tuple[Any, ...], str]] = []
        self._path: list[Any] = []  # the root's placeholder, then the key path of the node being composed
        self._open_anchors: set[str] = set()
        self._measured: dict[Node, tuple[int, int]] = {}  # node -> (values once expanded, levels)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        self._enter(event, parent, index)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._leave(event)
        if node is not None:
            self._measure(node, event.start_mark)
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        path = tuple(self._path[1:])
        if _KEY not in path:  # a mapping inside a key is refused with its key
            self._check_keys(node, path)
            self._record_merged_lines(node, path)
        return node

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        node = super().compose_scalar_node(anchor)
        # YAML 1.1 reads a plain `23:00` as the base-60 number 1380; a maintenance window's time of day
        # stays the text the operator wrote, so `at: 23:00` means eleven at night.
        if node.tag == _INT_TAG and _TIME_OF_DAY.fullmatch(node.value) and _is_time_of_day(self._path[1:]):
            node.tag = _STR_TAG
        return node

    def _enter(self, event: Event, parent: Node | None, index: Any) -> None:
        if isinstance(event, AliasEvent) and event.anchor in self._open_anchors:
            message = f"alias *{event.anchor} is used inside the value it names, which would never end"
            raise _Refused(message, event.start_mark)
        # PyYAML composes recursively: without this bound, `[[[[...` a thousand deep is a RecursionError.
        if len(self._path) >= MAX_DEPTH:
            raise _Refused(f"values are nested more than {MAX_DEPTH} levels deep", event.start_mark)
        if isinstance(event, CollectionStartEvent) and event.anchor is not None:
            self._open_anchors.add(event.anchor)
        if parent is None:
            self._path.append(None)
            self.lines[()] = _line_of(event.start_mark)
        elif isinstance(parent, SequenceNode):
            self._path.append(index)
            self._record_line(_line_of(event.start_mark))
        elif isinstance(index, ScalarNode):  # a mapping's value: its line is its key's
            self._path.append(index.value)
            self._record_line(index.start_mark.line + 1)
        else:  # a mapping's key, or the value of a key that is not a scalar
            self._path.append(_KEY)

    def _leave(self, event: Event) -> None:
        self._path.pop()
        if isinstance(event, CollectionStartEvent) and event.anchor is not None:
            self._open_anchors.discard(event.anchor)

    def _record_line(self, line: int) -> None:
        path = tuple(self._path[1:])
        if _KEY not in path:
            self.lines[path] = line

    def _measure(self, node: Node, mark: _Mark) -> None:
        """Count what the node stands for with its aliases expanded: what pydantic will walk."""
        if node in self._measured:  # an alias: measured once, where its anchor was composed
            return
        children = _children(node)
        values = 1 + sum(self._measured[child][0] for child in children)
        levels = 1 + max((self._measured[child][1] for child in children), default=0)
        if values > MAX_VALUES:
            raise _Refused(f"holds more than {MAX_VALUES} values, counting each use of an alias in full", mark)
        if levels > MAX_DEPTH:
            raise _Refused(f"values are nested more than {MAX_DEPTH} levels deep once aliases are expanded", mark)
        self._measured[node] = (values, levels)

    def _check_keys(self, node: MappingNode, path: tuple[Any, ...]) -> None:
        first: dict[str, int] = {}
        for key, _value in node.value:
            line = key.start_mark.line + 1
            if key.tag == _MERGE_TAG:
                continue  # `<<: *defaults`; a key given here overrides the merged one, as YAML intends
            if not isinstance(key, ScalarNode) or key.tag != _STR_TAG:
                self.problems.append((line, path, _not_text(key)))
            elif key.value in first:
                message = f"duplicate key; first given on line {first[key.value]}"
                self.problems.append((line, (*path, key.value), message))
            else:
                first[key.value] = line

    def _record_merged_lines(self, node: MappingNode, path: tuple[Any, ...]) -> None:
        """A key brought in by `<<: *defaults` is reported where the defaults write it."""
        for key, value in node.value:
            if key.tag != _MERGE_TAG:
                continue
            for merged in value.value if isinstance(value, SequenceNode) else [value]:
                if isinstance(merged, MappingNode):
                    for merged_key, _ in merged.value:
                        if isinstance(merged_key, ScalarNode):
                            self.lines.setdefault((*path, merged_key.value), merged_key.start_mark.line + 1)


def _is_time_of_day(path: list[Any]) -> bool:
    return len(path) == 4 and path[0] == "maintenance" and path[2] == "every" and path[3] == "at"


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _not_text(key: Node) -> str:
    if isinstance(key, ScalarNode):
        reads_as = _TAG_NAMES.get(key.tag, key.tag)
        return f"key {_short(key.value)} is not text (YAML reads it as {reads_as}); put it in quotes if it is a name"
    return f"a {'list' if isinstance(key, SequenceNode) else 'mapping'} cannot be a key"


def _strict(construct: Callable[[SafeConstructor, ScalarNode], Any], kind: str) -> Callable[[Any, Node], Any]:
    """PyYAML's scalar constructors trust the resolver's patterns and raise bare ValueError, KeyError,
    IndexError or AttributeError for text that matches one but is no value: `0x_`, `2020-02-30`,
    `!!bool maybe`, `!!int ''`, `!!timestamp soon`, an integer of more than 4300 digits."""

    def construct_strictly(loader: Any, node: Node) -> Any:
        if kind == "a number" and isinstance(node, ScalarNode) and len(node.value) > MAX_NUMBER_CHARS:
            raise ConstructorError(None, None, f"a number of more than {MAX_NUMBER_CHARS} characters", node.start_mark)
        try:
            return construct(loader, node)  # type: ignore[arg-type]  # a non-scalar is refused by PyYAML
        except (ValueError, KeyError, IndexError, AttributeError, OverflowError):
            raise ConstructorError(None, None, f"{_short(node.value)} is not {kind}", node.start_mark) from None

    return construct_strictly


def _install_strict_scalars() -> None:
    for name, kind in [("int", "a number"), ("float", "a number"), ("bool", "true or false"), ("timestamp", "a date")]:
        tag = f"tag:yaml.org,2002:{name}"
        _Loader.add_constructor(tag, _strict(SafeConstructor.yaml_constructors[tag], kind))


_install_strict_scalars()


# --- reporting pydantic's findings -----------------------------------------------------------------


def _validation_problem(source: str, lines: dict[tuple[Any, ...], int], error: Any) -> str:
    loc = _without_kind_tags(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")  # the prefix says nothing to an operator
    given = error.get("input")
    if error["type"] == "probe_type" and isinstance(given, dict) and "type" in given:
        # The discriminator reports at the probe; the operator needs the `type` line and what it said.
        loc, message = (*loc, "type"), f"{message}, got {_short(given['type'])}"
    return _problem(source, lines, loc, message)


def _without_kind_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the kind pydantic puts after a probe's index (`probes, 0, 'http', 'interval'`): it is no key."""
    return tuple(
        part
        for i, part in enumerate(loc)
        if not (i >= 2 and loc[i - 2] == "probes" and isinstance(loc[i - 1], int) and part in _KIND_NAMES)
    )


def _problem(source: str, lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...], message: str) -> str:
    return f"{source}:{_line_for(lines, loc)}: {_key_path(loc)}: {_one_line(message)}"


def _one_line(message: str) -> str:
    # Programs read one problem per line; PyYAML's messages and pydantic's inputs can hold line breaks.
    return " ".join(message.splitlines())


def _duplicate_ids(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Ids must be unique across the file; each repeat is reported where it stands."""
    components: dict[str, int] = {}
    probes: dict[str, tuple[int, int]] = {}
    for c, component in enumerate(config.components):
        if component.id in components:
            yield (
                ("components", c, "id"),
                f"component id {component.id!r} is already used by components[{components[component.id]}]",
            )
        components.setdefault(component.id, c)
        for p, probe in enumerate(component.probes):
            if probe.id in probes:
                first = "components[{}].probes[{}]".format(*probes[probe.id])
                yield ("components", c, "probes", p, "id"), f"probe id {probe.id!r} is already used by {first}"
            probes.setdefault(probe.id, (c, p))


def _maintenance_problems(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Maintenance windows have unique ids and cover only components the file declares, each once."""
    declared = {component.id for component in config.components}
    windows: dict[str, int] = {}
    for m, window in enumerate(config.maintenance):
        if window.id in windows:
            yield (
                ("maintenance", m, "id"),
                f"maintenance id {window.id!r} is already used by maintenance[{windows[window.id]}]",
            )
        windows.setdefault(window.id, m)
        seen: dict[str, int] = {}
        for c, component_id in enumerate(window.components):
            loc = ("maintenance", m, "components", c)
            if component_id not in declared:
                names = sorted(declared)
                known = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
                yield loc, f"unknown component {_short(component_id)}; the components this file declares are: {known}"
            elif component_id in seen:
                yield loc, f"component {component_id!r} is already listed as components[{seen[component_id]}]"
            seen.setdefault(component_id, c)


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        # A key holding an invisible character (a zero-width space) is quoted, or it reads like a valid one.
        name = part if not isinstance(part, str) or part.isprintable() else repr(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{name}" if out else str(name))
    return out or "(top level)"


def _line_for(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return 1
