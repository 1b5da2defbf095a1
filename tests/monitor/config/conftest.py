"""A configuration file that is right, and how to ask what is wrong with one that is not."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, parse_config

# Line numbers in the tests are this text's: line 10 is the first probe's `type`, line 12 its `interval`.
GOOD = """\
page:
  name: Test portal status
  url: "http://status.test/"
  time_zone: America/Toronto
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - id: pr-home
        type: http
        url: "http://127.0.0.1:9/"
        interval: 30s
  - id: employer-portal
    name: Employer portal
    probes:
      - id: employer-home
        url: "http://127.0.0.1:9/employer"
        interval: 1m
"""


def problems_of(text: str, source: str = "portalwatch.yaml") -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, source=source)
    assert raised.value.path == source
    assert raised.value.problems, "a ConfigError must list at least one problem"
    return raised.value.problems
