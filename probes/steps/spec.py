"""The `steps` probe's spec: a short transaction (sign in, upload, read back, clean up) run as one check.

Steps run in order and share one cookie jar, so a session cookie set by a sign-in step is sent by the
steps after it. A step can pull a value out of its answer (`extract`) for later steps to use as
`${name}`; `${env:NAME}` is read from the environment when the check runs, so passwords stay out of
the configuration and out of the evidence.

Values are extracted with a regular expression (one capture group), a response header, or a JSON
expression. JSON expressions are JMESPath (https://jmespath.org), not JSONPath: the two agree on
simple paths, and a leading `$.` as JSONPath users write it is accepted and dropped (`$.id` is `id`,
`$.items[0].id` is `items[0].id`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

import jmespath
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probes.secrets import ENV_PREFIX, REFERENCE, VARIABLE_NAME, check_reference, references
from probes.spec import HttpMethod, Latency, ProbeSpecBase, StatusCodes, check_http_url, compile_regex

# Uploads are generated in memory and kept for reuse; a probe has no business sending more than this.
MAX_UPLOAD_BYTES = 50 * 1000 * 1000
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
}


def parse_size(value: object) -> int:
    """A byte count as people write it: `3MB` (10^6 bytes), `512KB`, `2MiB` (2^20), or a bare int."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 512KB or 3MB, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        number, unit = match.groups()
        size = int(float(number) * _SIZE_UNITS[(unit or "B").upper()])
    else:
        raise ValueError(f"expected a size such as 512KB or 3MB, got {value!r}")
    if not 0 <= size <= MAX_UPLOAD_BYTES:
        raise ValueError(f"must be between 0 and {MAX_UPLOAD_BYTES // 1000**2}MB, got {value!r}")
    return size


def jmespath_expression(value: str) -> str:
    """The JMESPath expression for `value`, which may be written JSONPath-style with a leading `$`."""
    if value == "$":
        return "@"
    if value.startswith("$."):
        return value[2:]
    if value.startswith("$["):
        return value[1:]
    return value


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included, where a `${…}` could sit."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


class _Model(BaseModel):
    # `json` is the configuration key, stored copies (model_dump) must use it again.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


class Extract(_Model):
    """Where a value comes from: exactly one of `regex` (its one group), `json` (JMESPath) or `header`."""

    regex: str | None = None
    # `json` would shadow BaseModel.json, hence the alias.
    json_path: str | None = Field(default=None, alias="json")
    header: str | None = Field(default=None, min_length=1)

    @field_validator("regex")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        pattern = compile_regex(value)
        if pattern.groups != 1:
            raise ValueError(f"must have exactly one (capture group), {value!r} has {pattern.groups}")
        return value

    @field_validator("json_path")
    @classmethod
    def _jmespath(cls, value: str | None) -> str | None:
        if value is None:
            return None
        expression = jmespath_expression(value)
        try:
            jmespath.compile(expression)
        except Exception as exc:  # the parser raises a family of its own, and worse on odd input
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise ValueError(f"is not a valid JMESPath expression ({detail}): {value!r}") from None
        return expression

    @model_validator(mode="after")
    def _exactly_one(self) -> Extract:
        given = [key for key in ("regex", "json", "header") if getattr(self, _EXTRACT_FIELDS[key]) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of regex, json or header, got {', '.join(given) or 'none'}")
        return self


_EXTRACT_FIELDS = {"regex": "regex", "json": "json_path", "header": "header"}


class Upload(_Model):
    """A file sent as multipart/form-data: `size` bytes of generated, always identical content."""

    field: str = Field(min_length=1)
    filename: str = Field(min_length=1)
    size: int
    content_type: str = "application/octet-stream"

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: object) -> int:
        return parse_size(value)


class Step(_Model):
    name: str = Field(min_length=1, max_length=100)
    method: HttpMethod = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    form: dict[str, str] | None = None
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    upload: Upload | None = None
    expect_status: StatusCodes = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    body_not_contains: str | None = None
    max_latency: Latency = None
    follow_redirects: bool = True
    extract: dict[str, Extract] = Field(default_factory=dict)
    always: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # A reference may stand for any part of the URL; check the shape with a stand-in value.
        return check_http_url(value, shape=REFERENCE.sub("x", value))

    @field_validator("extract")
    @classmethod
    def _variable_names(cls, value: dict[str, Extract]) -> dict[str, Extract]:
        for name in value:
            if not VARIABLE_NAME.match(name):
                raise ValueError(f"variable names are letters, digits and _, not starting with a digit: {name!r}")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Step:
        bodies = [key for key in ("form", "json", "body") if self._given(key)]
        if len(bodies) > 1:
            raise ValueError(f"step {self.name!r} has {' and '.join(bodies)}: give at most one body")
        # The file goes in a multipart body, which can carry form fields beside it, not JSON or raw text.
        if self.upload is not None and (self.json_body is not None or self.body is not None):
            raise ValueError(f"step {self.name!r} has an upload and a {'json' if self.body is None else 'raw'} body")
        for name in self.references():
            check_reference(name)
        return self

    def _given(self, key: str) -> bool:
        value = {"form": self.form, "json": self.json_body, "body": self.body}[key]
        return value is not None

    def references(self) -> Iterator[str]:
        """Every `${…}` name this step uses, env ones included, in the order they are written."""
        texts = [self.url, self.body or "", self.body_contains or "", self.body_not_contains or ""]
        texts.extend(self.headers.values())
        texts.extend((self.form or {}).values())
        texts.extend(_strings(self.json_body))
        for text in texts:
            yield from references(text)


class StepsProbeSpec(ProbeSpecBase):
    """A transaction: its steps, one deadline (`timeout`) for all of them, and what its failure means."""

    type: Literal["steps"] = "steps"
    steps: list[Step] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _names_and_variables(self) -> StepsProbeSpec:
        seen: set[str] = set()
        extracted: dict[str, str] = {}
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"two steps are named {step.name!r}: step names must be unique")
            seen.add(step.name)
            for name in step.references():
                if name.startswith(ENV_PREFIX) or name in extracted:
                    continue
                if name in step.extract:
                    raise ValueError(
                        f"step {step.name!r} uses ${{{name}}}, which it extracts itself: only later steps can"
                    )
                raise ValueError(f"step {step.name!r} uses ${{{name}}}, which no earlier step extracts")
            for name in step.extract:
                extracted.setdefault(name, step.name)
        return self
