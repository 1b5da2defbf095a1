"""Engine, sessions and the declarative base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# CHECK constraints get stable names, so a later migration can drop and recreate one by name.
NAMING = {"ix": "ix_%(column_0_label)s", "ck": "ck_%(table_name)s_%(constraint_name)s"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, *, pool_size: int | None = None, **kwargs: Any) -> Engine:
    """`pool_size`: connections kept open (PostgreSQL); as many as the process has threads using the
    database, so none is opened and closed again for every transaction."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _serialize_sqlite_writers(engine)
        return engine
    # A database host that drops packets instead of refusing would otherwise hold each request for the
    # kernel's TCP timeout (minutes); five seconds, then the web answers 503 and workers retry.
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    if pool_size is not None:
        kwargs.setdefault("pool_size", pool_size)
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _serialize_sqlite_writers(engine: Engine) -> None:
    # pysqlite opens transactions lazily, so two threads could both read a probe's streak and then
    # both write it. BEGIN IMMEDIATE takes the write lock up front, which gives SQLite the same
    # one-writer-at-a-time guarantee that row locks give on PostgreSQL. It also means a transaction
    # on SQLite holds the whole database's write lock: never make a network call inside one.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session, one transaction: committed if the block finishes, rolled back if it raises."""
    with factory() as session, session.begin():
        yield session
