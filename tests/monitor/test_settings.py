"""Process settings: secrets never printed, blanks mean unset, and a placeholder token is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "DATABASE_URL": "postgresql+psycopg://portalwatch:db-password-123@db/portalwatch",
    "REDIS_URL": "redis://:redis-password-456@broker:6379/0",
    "PORTALWATCH_OPS_TOKEN": "ops-token-abcdefghijklmnopqrstuvwxyz",
    "SLACK_BOT_TOKEN": "xoxb-slack-secret-789",
}


def test_no_secret_appears_in_the_repr_or_str_of_the_settings() -> None:
    settings = Settings.from_env(SECRETS)
    shown = repr(settings) + str(settings) + repr(settings.model_dump())
    for secret in ("db-password-123", "redis-password-456", "abcdefghijklmnop", "xoxb-slack-secret-789"):
        assert secret not in shown
    assert settings.database == SECRETS["DATABASE_URL"]  # still usable by the code that needs it
    assert settings.token == SECRETS["PORTALWATCH_OPS_TOKEN"]


def test_an_empty_variable_means_unset_as_it_always_has() -> None:
    settings = Settings.from_env({"DATABASE_URL": "", "REDIS_URL": "  ", "PORTALWATCH_LOCATION": ""})
    assert settings.database == "sqlite:///portalwatch.db"
    assert not settings.distributed
    assert settings.location == "local"


@pytest.mark.parametrize("token", ["change-me", "demo-token", "short-token"])
def test_a_placeholder_or_short_ops_token_is_named_as_the_problem(token: str) -> None:
    problem = Settings.from_env({"PORTALWATCH_OPS_TOKEN": token}).ops_token_problem()
    assert problem is not None and "PORTALWATCH_OPS_TOKEN" in problem


def test_no_ops_token_is_fine_because_the_ops_api_then_stays_closed() -> None:
    assert Settings.from_env({}).ops_token_problem() is None


def test_serve_refuses_to_start_behind_a_placeholder_token(tmp_path: Path) -> None:
    env = {**os.environ, "PORTALWATCH_OPS_TOKEN": "change-me", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "serve", "--config", str(REPO_ROOT / "demo" / "portalwatch.yaml")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("PortalWatch will not start: PORTALWATCH_OPS_TOKEN is a placeholder")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
