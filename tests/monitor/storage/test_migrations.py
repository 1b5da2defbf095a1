"""The Alembic migrations build exactly the schema the models describe, on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

import monitor.storage.models  # noqa: F401  (registers every table)
from monitor.storage.engine import Base, make_engine
from monitor.storage.migrate import alembic_config, migrate


def test_migrations_match_the_models_and_can_run_twice(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    migrate(engine)
    migrate(engine)  # every process migrates at start; a second run must be a no-op
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], f"models changed without a migration: {differences}"
    assert {"outages", "checks", "outbox_events", "deliveries", "cases", "grants"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_every_enum_column_has_the_check_constraint_the_models_declare(empty_database_url: str) -> None:
    # compare_metadata does not look at CHECK constraints, so this does.
    engine = make_engine(empty_database_url)
    migrate(engine)
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        declared = {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint" and c.name}
        found = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert declared <= found, f"{table.name}: missing {declared - found}"
    assert "ck_outages_severity" in {c["name"] for c in inspector.get_check_constraints("outages")}
    engine.dispose()


def test_the_database_refuses_a_state_the_code_does_not_know(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    migrate(engine)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO components (id, name, position, active, watch_state, created_at, updated_at) "
                "VALUES ('x', 'X', 0, true, 'sleeping', :now, :now)"
            ),
            {"now": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)},
        )
    engine.dispose()


def test_an_event_the_old_outbox_gave_up_on_is_owed_again_to_both_consumers_after_upgrading(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        now = datetime(2026, 11, 20, 14, 0)
        connection.execute(
            text(
                "INSERT INTO components (id, name, position, active, created_at, updated_at) "
                "VALUES ('pr', 'PR', 0, true, :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO outages (id, component_id, severity, started_at, detected_at, grace_days, "
                "slack_channel, slack_ts, created_at, updated_at) "
                "VALUES (1, 'pr', 'major_outage', :now, :now, 7, 'C1', '17.1', :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO outage_events (outage_id, kind, created_at, available_at, attempts, processed_at, "
                "last_error) VALUES (1, 'opened', :now, :now, 8, :now, 'slack failed: timeout')"
            ),
            {"now": now},
        )
    migrate(engine)  # as the next start of the service does
    with engine.connect() as connection:
        states = connection.execute(text("SELECT consumer, state FROM deliveries ORDER BY consumer")).all()
        message = connection.execute(text("SELECT subject, destination, external_id FROM notify_messages")).one()
        last_failed = connection.execute(text("SELECT last_failed_at FROM outages")).scalar_one()
    # The old outbox gave up on it after 8 attempts; now it is owed again, to each consumer.
    assert [tuple(row) for row in states] == [("relief", "pending"), ("slack", "pending")]
    assert tuple(message) == ("outage:1", "C1", "17.1")
    assert last_failed is not None
    engine.dispose()


def test_checks_recorded_before_evidence_pieces_keep_their_rows_and_the_revision_can_be_undone(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    config = alembic_config()
    now = datetime(2026, 11, 20, 14, 0)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        connection.execute(
            text(
                "INSERT INTO components (id, name, position, active, watch_state, created_at, updated_at) "
                "VALUES ('pr', 'PR', 0, true, 'watched', :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO probes (id, component_id, spec, interval_seconds, failure_threshold, "
                "recovery_threshold, active, activated_at, created_at, updated_at) "
                "VALUES ('pr-home', 'pr', '{}', 30, 2, 2, true, :now, :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO checks (probe_id, location, slot, kind, started_at, ok, evidence) "
                "VALUES ('pr-home', 'local', :now, 'scheduled', :now, true, 'GET /')"
            ),
            {"now": now},
        )
    migrate(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT evidence, evidence_sha256, evidence_pruned_at FROM checks")).one()
        assert tuple(row) == ("GET /", None, None)  # verified from its text, as before
        assert connection.execute(text("SELECT count(*) FROM evidence_pieces")).scalar_one() == 0
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert "evidence_pieces" not in inspect(engine).get_table_names()
    assert "evidence_sha256" not in {c["name"] for c in inspect(engine).get_columns("checks")}
    migrate(engine)
    engine.dispose()


def test_people_and_the_audit_log_come_off_and_go_back_on(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    migrate(engine)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    tables = set(inspect(engine).get_table_names())
    assert not tables & {"people", "api_tokens", "audit_log", "audit_head", "outage_acknowledgements", "outage_updates"}
    assert "false_positive_at" not in {c["name"] for c in inspect(engine).get_columns("outages")}
    migrate(engine)
    assert {"people", "api_tokens", "audit_log", "audit_head"} <= set(inspect(engine).get_table_names())
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            triggers = connection.execute(
                text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal")
            ).scalars()
            assert set(triggers) == {"audit_log_append_only", "audit_log_no_truncate"}
    engine.dispose()


def test_the_slack_event_kinds_come_off_and_go_back_on(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    migrate(engine)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
    kinds = {c["name"]: c["sqltext"] for c in inspect(engine).get_check_constraints("outbox_events")}
    assert "acknowledged" not in str(kinds["ck_outbox_events_kind"])
    migrate(engine)
    kinds = {c["name"]: c["sqltext"] for c in inspect(engine).get_check_constraints("outbox_events")}
    assert "'reminder'" in str(kinds["ck_outbox_events_kind"])
    actions = {c["name"]: c["sqltext"] for c in inspect(engine).get_check_constraints("audit_log")}
    assert "'slack_user_set'" in str(actions["ck_audit_log_action"])
    engine.dispose()


def test_a_component_nobody_watches_when_the_gaps_table_arrives_gets_its_open_gap(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0011")
        connection.execute(
            text(
                "INSERT INTO components (id, name, position, active, watch_state, watch_state_since,"
                " merge_gap_seconds, created_at, updated_at) VALUES"
                " ('pr', 'PR', 0, true, 'unknown', '2026-11-20 14:00:00+00:00', 600, '2026-11-01 00:00:00+00:00',"
                " '2026-11-20 14:05:00+00:00'),"
                " ('tr', 'TR', 1, true, 'watched', NULL, 600, '2026-11-01 00:00:00+00:00', '2026-11-20 14:05:00+00:00')"
            )
        )
    migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT component_id, ended_at FROM monitoring_gaps")).all()
    assert [(row[0], row[1]) for row in rows] == [("pr", None)]
    engine.dispose()
