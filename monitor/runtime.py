"""What a running PortalWatch process holds: settings, configuration, database and the Slack client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts import SlackNotifier
from monitor.config import Config, load_config
from monitor.db import make_engine, make_sessionmaker, utcnow
from monitor.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    slack: SlackNotifier
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def create(cls, settings: Settings, config: Config | None = None) -> Runtime:
        config = config if config is not None else load_config(settings.config_path)
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            config=config,
            engine=engine,
            sessions=make_sessionmaker(engine),
            slack=SlackNotifier(settings.slack_token, settings.slack_channel, base_url=settings.slack_api_url),
        )

    def close(self) -> None:
        self.engine.dispose()
