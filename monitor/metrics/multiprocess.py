"""Putting a process's metrics in the directory its host's processes share (prometheus_client's multiprocess mode).

`serve`, each web worker, the scheduler and each Celery worker call `start` before they record anything.
Their values then live in files of that directory (see files.py), and a scrape of any web process adds
up every process's files: what a worker counted is seen whichever gunicorn worker answers.

prometheus_client picks how values are kept when it is first imported, from PROMETHEUS_MULTIPROC_DIR.
Here the directory comes from the settings (PORTALWATCH_METRICS_DIR, or `metrics` in the data
directory), known only once the process has read them, so `start` sets the variable (processes forked
or started from this one inherit it) and puts the same value class in place itself, with this
process's name from files.ProcessName. Every series of `series` has labels, so none holds a value
before its first use: call `start` before the first check is recorded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prometheus_client import values

from monitor.metrics import files

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"


class MetricsDirectoryError(Exception):
    """The metrics directory cannot be made or written: the process refuses to start rather than serve
    figures that each process would keep to itself."""


def start(directory: Path, *, clean: bool = False) -> Path:
    """Keep this process's metrics in `directory` (made if missing); `clean`: first remove the files of
    processes that no longer run (at the start of `serve` and of the web). Returns the directory."""
    directory = directory.resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if clean:
            removed = files.remove_dead(directory)
            if removed:
                log.info("metrics: removed the files of %d ended process(es) from %s", len(removed), directory)
        name = files.ProcessName(directory)
        name()  # this process's lock, taken now: a directory it cannot write fails here, not in a check
    except OSError as exc:
        raise MetricsDirectoryError(
            f"the metrics directory {directory} cannot be used ({exc.strerror or exc}); set"
            " PORTALWATCH_METRICS_DIR to a directory every PortalWatch process of this host can write"
        ) from exc
    os.environ[ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue(name)
    return directory


def directory() -> Path | None:
    """The directory this process's metrics are kept in, or None when they are kept in memory (tests, tools)."""
    value = os.environ.get(ENV, "").strip()
    if not value or not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return Path(value)
