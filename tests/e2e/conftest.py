"""What the end-to-end tests share: the environment of a distributed deployment on this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.portal import FlakyPortal
from tests.conftest import TEST_DATA_DIR, SlackStandIn, portal_config


@pytest.fixture
def distributed_env(
    tmp_path: Path, postgres_url: str, redis_url: str, portal: FlakyPortal, slack: SlackStandIn
) -> Iterator[dict[str, str]]:
    config = tmp_path / "portalwatch.yaml"
    config.write_text(portal_config(portal, interval="0.5s"))
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "PORTALWATCH_CONFIG": str(config),
        "PORTALWATCH_DATA_DIR": str(TEST_DATA_DIR),  # the letters' signing key, shared with the test's runtime
        "PORTALWATCH_OPS_TOKEN": "ops-secret",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_CHANNEL": "#portal-outages",
        "SLACK_API_URL": slack.url,
    }
    yield env
