"""Alembic environment: migrates the database named by DATABASE_URL, or the connection handed in."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

import monitor.storage.models  # noqa: F401  (registers every table on Base.metadata)
from monitor.storage.engine import Base, make_engine

target_metadata = Base.metadata


def _database_url() -> str:
    # Read here, not through monitor.settings: storage imports nothing above it.
    return os.environ.get("DATABASE_URL", "").strip() or "sqlite:///portalwatch.db"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_database_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
