"""The YAML file that declares what PortalWatch watches, validated before anything starts.

A bad file never half-starts the service: `load_config` raises ConfigError listing every problem
with the file, the line and the key path, e.g. `portalwatch.yaml:14: components[0].probes[0].interval: ...`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from probes.spec import Duration, ProbeSpec

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as America/Toronto") from None
    return value


class PageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "portalwatch"
    name: str = "Portal status"
    url: str = "http://127.0.0.1:8080/"
    time_zone: str = "America/Toronto"  # how times are shown to people; storage is always UTC

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)


class ReliefConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grace_days: int = Field(default=7, ge=0, le=365)
    # How often grants are (re)computed while an outage is still open.
    interval: Duration = timedelta(seconds=60)


class ComponentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    description: str | None = None
    probes: list[ProbeSpec] = Field(min_length=1)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    page: PageConfig = PageConfig()
    locations: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    failure_threshold: int = Field(default=2, ge=1)
    recovery_threshold: int = Field(default=2, ge=1)
    relief: ReliefConfig = ReliefConfig()
    components: list[ComponentConfig] = Field(min_length=1)

    @field_validator("locations")
    @classmethod
    def _location_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(_ID, name):
                raise ValueError(f"location {name!r} must be lowercase letters, digits, '-', '_' or '.'")
        if len(set(value)) != len(value):
            raise ValueError("locations must be unique")
        return value

    def failure_threshold_for(self, probe: ProbeSpec) -> int:
        return probe.failure_threshold or self.failure_threshold

    def recovery_threshold_for(self, probe: ProbeSpec) -> int:
        return probe.recovery_threshold or self.recovery_threshold

    def probes(self) -> Iterator[tuple[ComponentConfig, ProbeSpec]]:
        for component in self.components:
            for probe in component.probes:
                yield component, probe


class ConfigError(Exception):
    """A configuration file that cannot be used; `problems` are `file:line: key.path: message` lines."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"invalid configuration {path}:\n  " + "\n  ".join(problems))


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc.strerror or exc}"]) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<config>") -> Config:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise ConfigError(source, [f"{source}:{line}: not valid YAML: {exc.problem or exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, [f"{source}:1: the file must be a mapping with at least `components`"])
    lines = _line_index(node)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            problems.append(f"{source}:{_line_for(lines, loc)}: {_key_path(loc)}: {_message(error)}")
        raise ConfigError(source, problems) from None
    duplicates = [f"{source}:{_line_for(lines, loc)}: {_key_path(loc)}: {msg}" for loc, msg in _duplicate_ids(config)]
    if duplicates:
        raise ConfigError(source, duplicates)
    return config


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


def _message(error: Any) -> str:
    message = str(error["msg"])
    # pydantic prefixes errors raised by our validators; the prefix says nothing to an operator.
    return message.removeprefix("Value error, ")


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_index(node: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """Map every key path in the document to the 1-based line it starts on."""
    index: dict[tuple[Any, ...], int] = {}

    def walk(current: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                child = (*path, key.value)
                walk(value, child)
                index[child] = key.start_mark.line + 1
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    return index


def _line_for(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return 1
