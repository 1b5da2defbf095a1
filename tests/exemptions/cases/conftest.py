"""Running `python -m exemptions import-cases` as a user would: a config file, a fresh database, a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from monitor.runtime import Runtime
from tests.conftest import OFFLINE_CONFIG, ROOT

Cli = tuple[Path, dict[str, str]]


def _cli(tmp_path: Path, database_url: str) -> Cli:
    config = tmp_path / "portalwatch.yaml"
    config.write_text(OFFLINE_CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTALWATCH_", "SLACK_", "REDIS_URL"))}
    env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = str(ROOT)
    return config, env


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield _cli(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}")


@pytest.fixture
def cli_on(tmp_path: Path, database_url: str) -> Iterator[Cli]:
    """The command on each back end: SQLite, and a fresh PostgreSQL database."""
    yield _cli(tmp_path, database_url)


def import_with_cli(cli: Cli, csv_path: Path) -> subprocess.CompletedProcess[str]:
    config, env = cli
    return subprocess.run(
        [sys.executable, "-m", "exemptions", "import-cases", str(csv_path), "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def database_texts(runtime: Runtime) -> list[str]:
    """Every value of every table of the database as text (bytes decoded), to look for what must not be there."""
    texts: list[str] = []
    with runtime.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    if value is not None:
                        texts.append(str(value))
    return texts


def holding_code(runtime: Runtime, *codes: str) -> list[str]:
    """The values in the database holding any of `codes` in any form a person may type it (letter case, spaces
    and hyphens aside): none, where codes are stored only as hashes."""
    wanted = [code.upper().replace("-", "").replace(" ", "") for code in codes]
    return [
        text
        for text in database_texts(runtime)
        if any(w in text.upper().replace("-", "").replace(" ", "") for w in wanted)
    ]
