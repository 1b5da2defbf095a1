"""How every request a probe makes names itself, so the portal's operators can tell probe traffic apart.

`User-Agent: PortalWatch/<version> (+<status page url>; location=<name>)`. The engine sets it for the
checks it runs (`identified`); a runner reads it with `user_agent()` and sends it unless the probe's
own headers set one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import PackageNotFoundError, version

PRODUCT = "PortalWatch"
VERSION = "0.1.0"  # the project's version (pyproject.toml), for when it is run from a checkout

_AGENT: ContextVar[str | None] = ContextVar("portalwatch_user_agent", default=None)


def _version() -> str:
    try:
        return version("portalwatch")
    except PackageNotFoundError:
        return VERSION


def agent_for(page_url: str, location: str) -> str:
    return f"{PRODUCT}/{_version()} (+{page_url}; location={location})"


def user_agent(location: str) -> str:
    """The agent set for the running check, or a plain one naming the location."""
    return _AGENT.get() or f"{PRODUCT}/{_version()} (location={location})"


@contextmanager
def identified(agent: str) -> Iterator[None]:
    token = _AGENT.set(agent)
    try:
        yield
    finally:
        _AGENT.reset(token)
