"""Bring a database to the latest schema; safe when several processes start at once."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

# Any constant works; it only has to be the same in every PortalWatch process.
_MIGRATION_LOCK = 7_270_345_001


class MigrationError(Exception):
    pass


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "monitor.storage:migrations")
    return config


def migrate(engine: Engine) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Web, workers and the scheduler may all start together; only one may run DDL.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            connection.commit()
        sqlite_raw = _sqlite_foreign_keys_off(connection)
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
            if sqlite_raw is not None:
                broken = sqlite_raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise MigrationError(f"the migration left rows that break foreign keys: {broken[:5]}")
        finally:
            if sqlite_raw is not None:
                sqlite_raw.execute("PRAGMA foreign_keys=ON")
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                connection.commit()


def _sqlite_foreign_keys_off(connection: Connection) -> Any:
    """SQLite alters a table by copying it and dropping the original, which foreign keys from other
    tables' rows forbid; the pragma only takes effect outside a transaction, so it is set on the raw
    connection before the migration begins one, and every key is checked again after it."""
    if connection.dialect.name != "sqlite":
        return None
    raw = connection.connection.dbapi_connection
    if raw is None:
        return None
    raw.execute("PRAGMA foreign_keys=OFF")
    return raw
