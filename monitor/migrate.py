"""Bring a database to the latest schema; safe when several processes start at once."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

# Any constant works; it only has to be the same in every PortalWatch process.
_MIGRATION_LOCK = 7_270_345_001


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "monitor:migrations")
    return config


def migrate(engine: Engine) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Web, workers and the scheduler may all start together; only one may run DDL.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                connection.commit()
