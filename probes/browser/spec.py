"""The `browser` probe's spec: a page loaded in headless Chromium, optional scripted steps, a final selector.

Steps run in order once the page has loaded; each does exactly one thing: `fill` an input, `click` an
element, or `wait_for` a selector or a text to be visible. `${env:NAME}` in a fill value is read from
the environment when the check runs, and never shown in the evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probes.secrets import ENV_PREFIX, check_env_only, references
from probes.spec import ProbeSpecBase, check_http_url

Screenshot = Literal["on_failure", "always", "never"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fill(_Model):
    selector: str = Field(min_length=1)
    value: str

    @field_validator("value")
    @classmethod
    def _env_only(cls, value: str) -> str:
        return check_env_only(value, "a browser step")


class WaitFor(_Model):
    """Exactly one of `selector` (an element to become visible) or `text` (visible text on the page)."""

    selector: str | None = Field(default=None, min_length=1)
    text: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitFor:
        if (self.selector is None) == (self.text is None):
            raise ValueError("give exactly one of selector or text")
        return self


class BrowserStep(_Model):
    name: str = Field(min_length=1, max_length=100)
    fill: Fill | None = None
    click: str | None = Field(default=None, min_length=1)
    wait_for: WaitFor | None = None

    @model_validator(mode="after")
    def _one_action(self) -> BrowserStep:
        given = [key for key in ("fill", "click", "wait_for") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(
                f"step {self.name!r}: give exactly one of fill, click or wait_for, got {', '.join(given) or 'none'}"
            )
        return self

    @property
    def action(self) -> str:
        if self.fill is not None:
            return f"fill {self.fill.selector!r}"
        if self.click is not None:
            return f"click {self.click!r}"
        if self.wait_for is not None and self.wait_for.selector is not None:
            return f"wait for {self.wait_for.selector!r}"
        return f"wait for text {self.wait_for.text if self.wait_for else None!r}"

    def env_names(self) -> list[str]:
        if self.fill is None:
            return []
        return [name[len(ENV_PREFIX) :] for name in references(self.fill.value)]


class BrowserProbeSpec(ProbeSpecBase):
    """A page in a real browser: `url` must load with a 2xx/3xx answer, then `steps`, then `expect_selector`."""

    type: Literal["browser"] = "browser"
    url: str
    steps: list[BrowserStep] = Field(default_factory=list, max_length=50)
    expect_selector: str | None = Field(default=None, min_length=1)
    screenshot: Screenshot = "on_failure"

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, value: list[BrowserStep]) -> list[BrowserStep]:
        seen: set[str] = set()
        for step in value:
            if step.name in seen:
                raise ValueError(f"two steps are named {step.name!r}: step names must be unique")
            seen.add(step.name)
        return value
