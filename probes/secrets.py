"""`${env:NAME}` in a probe's spec: read from the environment when the check runs, kept out of its result.

A spec names the variable, never its value, so the configuration and every stored copy of the spec
hold no secret. The kinds that send requests (http, steps, browser) read the values when a check
starts, and replace every occurrence of them, in every encoding a server or an HTTP library might
give them back in, with `[redacted]` in the check's error and evidence.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote, quote_plus

# `${name}` for a value an earlier step extracted (steps only), `${env:NAME}` for an environment
# variable. Any other text between `${` and `}` is a configuration mistake, refused rather than sent as is.
REFERENCE = re.compile(r"\$\{([^}]*)\}")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_PREFIX = "env:"
REDACTED = "[redacted]"


def references(text: str) -> Iterator[str]:
    """The names inside each `${…}` in `text`, in order (`env:NAME` for environment variables)."""
    for match in REFERENCE.finditer(text):
        yield match.group(1)


def check_reference(name: str) -> None:
    """A ValueError unless `name` (what is between `${` and `}`) is a variable or `env:` and a variable."""
    if name.startswith(ENV_PREFIX):
        if not VARIABLE_NAME.match(name[len(ENV_PREFIX) :]):
            raise ValueError(f"${{{name}}} does not name an environment variable")
    elif not VARIABLE_NAME.match(name):
        raise ValueError(f"${{{name}}} is neither ${{variable}} nor ${{env:NAME}}")


def check_env_only(text: str, where: str) -> str:
    """`text` if every `${…}` in it is a well-formed `${env:NAME}`; a ValueError saying `where` otherwise."""
    for name in references(text):
        check_reference(name)
        if not name.startswith(ENV_PREFIX):
            raise ValueError(f"${{{name}}}: {where} can only use ${{env:NAME}}")
    return text


def env_names(texts: Iterable[str]) -> tuple[str, ...]:
    """The environment variables the `${env:NAME}` references in `texts` name, each once, in order."""
    names = (name[len(ENV_PREFIX) :] for text in texts for name in references(text) if name.startswith(ENV_PREFIX))
    return tuple(dict.fromkeys(names))


class MissingVariable(Exception):
    """A `${env:NAME}` whose variable is not set where the check runs."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set")
        self.name = name


def read_environment(names: Iterable[str], secrets: Secrets) -> dict[str, str | None]:
    """Each named variable's value now (None when unset), read once so a whole check sees the same
    values; every value is added to `secrets`."""
    env: dict[str, str | None] = {}
    for name in names:
        value = env[name] = os.environ.get(name)
        if value:
            secrets.add(value)
    return env


def substitute_env(text: str, env: Mapping[str, str | None], *, encode: bool = False) -> str:
    """`text` with each `${env:NAME}` replaced by its value, percent-encoded when `encode` (for a URL);
    MissingVariable for the first one whose variable is unset. Other `${…}` are left as they are."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not name.startswith(ENV_PREFIX):
            return match.group(0)
        var = name[len(ENV_PREFIX) :]
        found = env.get(var)
        if found is None:
            raise MissingVariable(var)
        return quote(found, safe="") if encode else found

    # One pass: a substituted value is never searched for references itself.
    return REFERENCE.sub(value, text)


def _percent_or_raw(value: str) -> str:
    """A pattern for `value` with each character as itself or percent-encoded (any case), a space also
    as `+`: what form encoding, `quote` with any safe set, and URL libraries that re-quote a URL make."""
    parts = []
    for char in value:
        escaped = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        alternatives = [re.escape(char), re.escape(escaped)]
        if char == " ":
            alternatives.append(r"\+")
        parts.append(f"(?:{'|'.join(alternatives)})")
    return "".join(parts)


class Secrets:
    """The environment values one check uses, and how to take them out of any text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._variants: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: str) -> None:
        if not value or value in self._values:
            return
        self._values.add(value)
        # As sent, and as a server may echo it: form- or URL-encoded, HTML-escaped, inside a JSON string.
        variants = {
            value,
            quote(value, safe=""),
            quote_plus(value),
            quote(value),
            html.escape(value),
            html.escape(value, quote=False),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            # Inside a Python repr, as an error line quotes a header or JSON value: the quote it is
            # written in escaped, and so backslashes and unprintable characters.
            repr(value + "'\"")[1:-4],
        }
        if '"' not in value:
            variants.add(repr(value + "'")[1:-2])
        self._variants |= {variant for variant in variants if variant}
        # Longest first: a shorter variant must not leave the tail of a longer one behind. Each value also
        # character by character, raw or percent-encoded, for URLs a library re-quoted its own way.
        alternatives = [_percent_or_raw(secret) for secret in sorted(self._values, key=len, reverse=True)]
        alternatives += map(re.escape, sorted(self._variants, key=len, reverse=True))
        # Case-insensitive: %2f and %2F are the same escape; hiding a little more than needed is harmless.
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE)

    def redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def trim_partial(self, text: str) -> str:
        """`text` without a trailing start of a secret, for text that was cut off in the middle.

        Only the text after the last whole secret counts: a text that ends with a whole secret, which
        `redact` hides, loses nothing here."""
        if self._pattern is None:
            return text
        after = max((match.end() for match in self._pattern.finditer(text)), default=0)
        lowered = text[after:].lower()
        cut = 0
        for variant in self._variants:
            variant = variant.lower()
            for length in range(min(len(variant) - 1, len(lowered)), 0, -1):
                if lowered.endswith(variant[:length]):
                    cut = max(cut, length)
                    break
        return text[: len(text) - cut] if cut else text
