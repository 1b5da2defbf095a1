"""The directory the processes of one host share for their metrics: which file is whose, and who still runs.

prometheus_client's multiprocess mode keeps each process's values in its own files in one directory,
`<kind>_<process>.db` (`counter_…`, `histogram_…`, `gauge_<mode>_…`), and a scrape adds them up. Here
`<process>` is `<host>-<pid>`, not the bare pid: containers sharing one volume each number their
processes from 1, and two processes writing one file would corrupt it.

Each process holds an exclusive lock on `<host>-<pid>.alive` for as long as it runs. The kernel drops
the lock when the process ends, however it ends, so the files of a process that is gone can be told
from those of one still running, from any process of the host (another container's included). At
start, `serve` and the web remove the files of processes that are gone (`remove_dead`) and keep those
of the scheduler and workers that are running: wiping the directory, as is usual, would leave those
writing into files nobody reads any more.

Standard library only: the gunicorn master runs this (on_starting, child_exit), and must load neither
prometheus_client (it imports ssl) nor the app before gevent patches its workers.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

ALIVE = ".alive"  # `<process>.alive`: locked by its process while it runs
SUBDIRECTORY = "metrics"  # the default directory, in the data directory
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")  # `_` separates a file name's parts


def host_name() -> str:
    return _UNSAFE.sub("-", socket.gethostname()).strip("-") or "host"


def process_name(pid: int, host: str | None = None) -> str:
    return f"{host or host_name()}-{pid}"


def owner(file_name: str) -> str:
    """The process a value file belongs to: `counter_web-1-42.db` → `web-1-42`."""
    return file_name.removesuffix(".db").rsplit("_", 1)[-1]


class ProcessName:
    """This process's name in the directory, as prometheus_client's `process_identifier` wants it.

    It is asked on every update of a value. The first time, and again in a process forked from this one
    (a Celery prefork child: the pid changed), it first takes the process's lock on `<name>.alive`.
    """

    def __init__(self, directory: Path, host: str | None = None) -> None:
        self.directory = directory
        self.host = host or host_name()
        self._pid = 0
        self._name = ""
        self._lock: int | None = None

    def __call__(self) -> str:
        pid = os.getpid()
        if pid != self._pid:
            self._become(pid)
        return self._name

    def _become(self, pid: int) -> None:
        if self._lock is not None:
            # The lock of the process this one was forked from: it still holds it through its own descriptor.
            os.close(self._lock)
            self._lock = None
        name = process_name(pid, self.host)
        lock = _try_lock(self.directory / f"{name}{ALIVE}", create=True)
        suffix = 0
        while lock is None:
            # Another running process has this name: two hosts of one name share the directory. Never
            # write its files; take a name of our own instead.
            suffix += 1
            name = f"{process_name(pid, self.host)}.{suffix}"
            lock = _try_lock(self.directory / f"{name}{ALIVE}", create=True)
        self._pid, self._name, self._lock = pid, name, lock


def _try_lock(path: Path, *, create: bool) -> int | None:
    """An open descriptor holding the exclusive lock on `path`, or None if a running process holds it.

    Raises FileNotFoundError when `path` is missing and not to be created.
    """
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    descriptor = os.open(path, flags, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def running(directory: Path, name: str) -> bool:
    """Whether the process called `name` holds its lock, i.e. still runs."""
    try:
        lock = _try_lock(directory / f"{name}{ALIVE}", create=False)
    except FileNotFoundError:
        return False
    if lock is None:
        return True
    os.close(lock)
    return False


def names(directory: Path) -> set[str]:
    """Every process with a file in the directory."""
    found = {owner(path.name) for path in directory.glob("*.db")}
    return found | {path.name.removesuffix(ALIVE) for path in directory.glob(f"*{ALIVE}")}


def remove_dead(directory: Path) -> list[str]:
    """Remove the files of every process that no longer runs; those of running processes stay.

    Returns the names of the processes whose files were removed. The counts those files held leave the
    sums a scrape reads: Prometheus takes the drop for a counter reset, as it does after a restart.
    """
    if not directory.is_dir():
        return []
    removed = []
    for name in sorted(names(directory)):
        path = directory / f"{name}{ALIVE}"
        try:
            lock = _try_lock(path, create=False)
        except FileNotFoundError:
            lock = -1  # a file without a lock: its process is gone (or never took one)
        if lock is None:
            continue  # running
        try:  # the lock stays held while the files go, so nobody takes the name meanwhile
            for value_file in directory.glob(f"*_{name}.db"):
                value_file.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        finally:
            if lock >= 0:
                os.close(lock)
        removed.append(name)
    return removed


def mark_process_dead(directory: Path, pid: int, host: str | None = None) -> None:
    """prometheus_client's `multiprocess.mark_process_dead` for this directory's names (gunicorn's child_exit).

    It removes the files of `live*` gauges, whose values are only true while their process runs. Counters
    and histograms stay: what a process counted before it ended still counts. Its lock file goes too,
    once the process no longer holds it.
    """
    name = process_name(pid, host)
    for path in directory.glob(f"gauge_live*_{name}.db"):
        path.unlink(missing_ok=True)
    if not running(directory, name):
        (directory / f"{name}{ALIVE}").unlink(missing_ok=True)


def directory_from_env(env: Mapping[str, str]) -> Path:
    """The directory `Settings.metrics_path` names, from the environment alone, for the gunicorn master.

    Same rule, without the settings (pydantic, SQLAlchemy): PORTALWATCH_METRICS_DIR or
    PROMETHEUS_MULTIPROC_DIR; else `metrics` in the data directory, which is PORTALWATCH_DATA_DIR, else
    `<name>-data` beside an SQLite database file, else `portalwatch-data`. The tests hold the two rules
    to the same answers.
    """
    for name in ("PORTALWATCH_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR"):
        value = env.get(name, "").strip()
        if value:
            return Path(value)
    data = env.get("PORTALWATCH_DATA_DIR", "").strip()
    if data:
        return Path(data) / SUBDIRECTORY
    url = env.get("DATABASE_URL", "").strip() or "sqlite:///portalwatch.db"
    database = _sqlite_database(url)
    if database and database != ":memory:":
        path = Path(database)
        return path.with_name(f"{path.stem}-data") / SUBDIRECTORY
    return Path("portalwatch-data") / SUBDIRECTORY


def _sqlite_database(url: str) -> str | None:
    """The database part of an `sqlite[+driver]://` URL, as SQLAlchemy's make_url reads it; None for others."""
    match = re.fullmatch(r"sqlite(?:\+[^:/]*)?://([^/?]*)(?:/([^?]*))?(?:\?.*)?", url, flags=re.DOTALL)
    if match is None:
        return None
    return unquote(match.group(2)) if match.group(2) else None
