"""The `http` probe's spec: a request and what its answer must look like for the portal to count as up.

`${env:NAME}` in the URL, a header value or the body is read from the environment when the check
runs (percent-encoded in the URL, sent as it is elsewhere), so a token or password stays out of the
configuration; its value is redacted from the check's error and evidence (`probes.secrets`).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal, Self

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, field_validator

from probes.secrets import REFERENCE, check_env_only, env_names
from probes.spec import HttpMethod, Latency, ProbeSpecBase, StatusCodes, check_http_url, compile_regex

# The compiled forms kept beside the fields they come from; see HttpProbeSpec.model_copy.
_COMPILED = ("body_pattern", "header_expectations", "env_names")
_ENV_ONLY = "an http probe"


_compile_regex = compile_regex


def _regex_between_slashes(value: str) -> str | None:
    """The pattern of an expected header value written `/…/`, else None for a plain value."""
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        return value[1:-1]
    return None


def _valid_expected_header(value: str) -> str:
    pattern = _regex_between_slashes(value)
    if pattern is not None:
        _compile_regex(pattern)
    return value


# An expected header value: the exact value, or a regex the value must contain when written `/…/`.
ExpectedHeader = Annotated[str, AfterValidator(_valid_expected_header)]


class JsonCondition(BaseModel):
    """One value the JSON body must hold: what the JMESPath `path` finds there must equal `equals`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    equals: JsonValue  # required, but may be null: `equals: null` asks for a null (or absent) value

    @field_validator("path")
    @classmethod
    def _jmespath(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a JMESPath expression such as `status` or `checks[0].state`, got ''")
        try:
            with warnings.catch_warnings():
                # jmespath still reads `text` (not JSON between backticks) as a string, with a warning
                # on every parse; refused here, it is never parsed again and never warns at check time.
                warnings.simplefilter("error", PendingDeprecationWarning)
                jmespath.compile(value)
        except PendingDeprecationWarning:
            raise ValueError(
                f"uses the deprecated `text` literal, write 'text' or `\"text\"` instead: {value!r}"
            ) from None
        except jmespath.exceptions.JMESPathError as exc:
            # The message's first line; the rest repeats the expression with a caret under the fault.
            detail = str(exc).split("\n", 1)[0].removesuffix(", for expression:").rstrip(": ")
            raise ValueError(f"is not a valid JMESPath expression ({detail}): {value!r}") from None
        except (RecursionError, ValueError, TypeError) as exc:
            # The parser recurses per nesting level and converts literals itself; neither should end a config load.
            raise ValueError(f"is not a valid JMESPath expression ({type(exc).__name__}): {value!r}") from None
        return value

    @field_validator("equals")
    @classmethod
    def _finite(cls, value: JsonValue) -> JsonValue:
        # YAML's .nan and .inf are no JSON value: NaN equals nothing, and the stored (JSON) copy of the
        # spec would turn either into null and so change what the probe asks for. Walked without
        # recursion: the nesting is whatever the configuration wrote.
        todo: list[JsonValue] = [value]
        while todo:
            item = todo.pop()
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"must be a JSON value; {item!r} is not one")
            if isinstance(item, list):
                todo.extend(item)
            elif isinstance(item, dict):
                todo.extend(item.values())
        return value

    @cached_property
    def expression(self) -> ParsedResult:
        """`path` compiled, once per spec rather than once per check."""
        return jmespath.compile(self.path)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("expression", None)  # compiled from the old path, which `update` may replace
        return copied


class HttpProbeSpec(ProbeSpecBase):
    # `json` is the configuration key, but as a field name it would shadow BaseModel.json(); the
    # stored copy of a spec (model_dump) must use the key it is parsed from again.
    model_config = ConfigDict(serialize_by_alias=True)

    type: Literal["http"] = "http"
    url: str
    method: HttpMethod = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: StatusCodes = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    body_regex: str | None = None
    body_not_contains: list[str] = Field(default_factory=list)
    json_conditions: list[JsonCondition] = Field(default_factory=list, alias="json")
    expect_headers: dict[str, ExpectedHeader] = Field(default_factory=dict)
    follow_redirects: bool = True
    verify_tls: bool = True
    max_latency: Latency = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # A `${env:NAME}` may stand for any part of the URL; check the shape with a stand-in value.
        return check_http_url(check_env_only(value, _ENV_ONLY), shape=REFERENCE.sub("x", value))

    @field_validator("headers")
    @classmethod
    def _header_values(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            check_env_only(text, _ENV_ONLY)
        return value

    @field_validator("body")
    @classmethod
    def _body_references(cls, value: str | None) -> str | None:
        return value if value is None else check_env_only(value, _ENV_ONLY)

    @field_validator("body_regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            _compile_regex(value)
        return value

    @field_validator("body_not_contains", mode="before")
    @classmethod
    def _one_or_more_texts(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("body_not_contains")
    @classmethod
    def _no_empty_text(cls, value: list[str]) -> list[str]:
        if "" in value:
            raise ValueError("an empty text is in every body, so the probe could never pass; remove it")
        return value

    @field_validator("json_conditions", mode="before")
    @classmethod
    def _one_or_more_conditions(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, Mapping) else value

    @field_validator("expect_headers")
    @classmethod
    def _header_expectations(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name.strip() or any(char in name for char in ":\r\n"):
                raise ValueError(f"{name!r} is not a header name")
        return value

    @cached_property
    def body_pattern(self) -> re.Pattern[str] | None:
        """`body_regex` compiled, once per spec rather than once per check."""
        return None if self.body_regex is None else re.compile(self.body_regex)

    @cached_property
    def header_expectations(self) -> tuple[tuple[str, str, re.Pattern[str] | None], ...]:
        """(name, expected value as written, its regex or None), compiled once per spec."""
        return tuple(
            (name, expected, None if (pattern := _regex_between_slashes(expected)) is None else re.compile(pattern))
            for name, expected in self.expect_headers.items()
        )

    @cached_property
    def env_names(self) -> tuple[str, ...]:
        """The environment variables the request uses (`${env:NAME}`), read when each check runs."""
        return env_names([self.url, *self.headers.values(), self.body or ""])

    @property
    def reads_body(self) -> bool:
        """Whether judging the answer needs the body searched, not only its start kept as evidence."""
        return bool(
            self.body_contains is not None
            or self.body_regex is not None
            or self.body_not_contains
            or self.json_conditions
        )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        # Compiled from the fields as they were; `update` may replace them without validation.
        for name in _COMPILED:
            copied.__dict__.pop(name, None)
        return copied
