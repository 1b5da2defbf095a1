"""What a running PortalWatch process holds: settings, configuration, database, channels, and how to send jobs.

`dispatch` is how use cases hand work to run later (a check's outbox deliveries, relief): Celery
in distributed mode, a thread pool in embedded mode, inline when nothing else is set (the CLI,
tests). The composition roots (cli, wsgi, the Celery worker) choose it; use cases never import
Celery or threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config, load_config
from monitor.notify.slack.channel import SlackChannel
from monitor.settings import Settings
from monitor.storage.engine import make_engine, make_sessionmaker, utcnow


class Dispatch(Protocol):
    def __call__(self, job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    slack: SlackChannel
    clock: Callable[[], datetime] = field(default=utcnow)
    dispatch: Dispatch | None = None  # None: jobs run inline, in the caller's thread

    @classmethod
    def create(cls, settings: Settings, config: Config | None = None) -> Runtime:
        config = config if config is not None else load_config(settings.config_path)
        engine = make_engine(settings.database)
        token = settings.slack_token.get_secret_value() if settings.slack_token else None
        return cls(
            settings=settings,
            config=config,
            engine=engine,
            sessions=make_sessionmaker(engine),
            slack=SlackChannel(
                token, settings.slack_channel, base_url=settings.slack_api_url, timeout=settings.slack_timeout
            ),
        )

    def close(self) -> None:
        self.engine.dispose()
