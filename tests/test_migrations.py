"""The Alembic migrations build exactly the schema the models describe, on both back ends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import exemptions.models  # noqa: F401  (its tables are part of the schema)
from monitor.db import Base, make_engine
from monitor.migrate import migrate


def test_migrations_match_the_models_and_can_run_twice(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # every process migrates at start; a second run must be a no-op
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], f"models changed without a migration: {differences}"
    assert {"outages", "checks", "outage_events", "cases", "grants"} <= set(inspect(engine).get_table_names())
    engine.dispose()
