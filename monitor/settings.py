"""Process settings from the environment, with defaults that make the embedded mode just work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///portalwatch.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None  # set: distributed mode with Celery on Redis; unset: embedded mode
    config_path: str = "portalwatch.yaml"
    ops_token: str | None = None
    location: str = "local"  # the probe location this process runs checks for (its Celery queue)
    slack_token: str | None = None
    slack_channel: str | None = None
    slack_api_url: str | None = None  # only to point slack-sdk at another Slack-compatible endpoint

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=get("REDIS_URL"),
            config_path=get("PORTALWATCH_CONFIG") or "portalwatch.yaml",
            ops_token=get("PORTALWATCH_OPS_TOKEN"),
            location=get("PORTALWATCH_LOCATION") or "local",
            slack_token=get("SLACK_BOT_TOKEN"),
            slack_channel=get("SLACK_CHANNEL"),
            slack_api_url=get("SLACK_API_URL"),
        )
