"""`python -m exemptions import-cases FILE.csv`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from exemptions.cases import ImportRejected
from monitor.config import ConfigError
from monitor.settings import Settings


class ProgressPrinter:
    """Tells the person at the terminal how far a long import has got: on stderr, every 50,000 rows or second.

    Quiet for a small file: the phases after reading are announced only once reading progress has been shown.
    """

    def __init__(
        self,
        out: TextIO,
        *,
        every_rows: int = 50_000,
        every_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.every_rows = every_rows
        self.every_seconds = every_seconds
        self.clock = clock
        self._shown_rows = 0
        self._shown_at = clock()
        self._shown_any = False

    def __call__(self, phase: str, rows: int) -> None:
        now = self.clock()
        if phase == "reading":
            if rows - self._shown_rows >= self.every_rows or (
                rows > self._shown_rows and now - self._shown_at >= self.every_seconds
            ):
                self._show(f"read {rows:,} rows…", rows, now)
            return
        if not self._shown_any:
            return
        if phase == "checking":
            self._show(f"read {rows:,} rows; checking for duplicate case ids…", rows, now)
        elif phase == "merging":
            self._show("storing the cases…", rows, now)
        elif phase == "relief":
            self._show("granting the relief past outages owe them…", rows, now)

    def _show(self, text: str, rows: int, now: float) -> None:
        print(text, file=self.out, flush=True)
        self._shown_rows, self._shown_at, self._shown_any = rows, now, True


def import_cases_main(args: argparse.Namespace) -> int:
    from monitor.cli import prepare
    from monitor.storage.enums import ImportState
    from monitor.usecases.imports import CHUNK_BYTES, create_job, run_import

    if args.config:
        os.environ["PORTALWATCH_CONFIG"] = args.config
    path = Path(args.file)
    try:
        file = path.open("rb")
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with file:
        runtime = prepare(Settings.from_env())
        try:
            # The same path as a large upload to the API: the file goes to the database in chunks, then the job
            # runs here, reading it back row by row; neither the file nor its rows are ever whole in memory.
            try:
                job_id = create_job(runtime, iter(lambda: file.read(CHUNK_BYTES), b""), source=str(path))
            except OSError as exc:
                print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
                return 2
            # No retry: a person is waiting for the answer, and an import failing here must not be done later
            # by a service's sweeper behind their back.
            result = run_import(runtime, job_id, progress=ProgressPrinter(sys.stderr), retry=False)
        finally:
            runtime.close()
    if result is None:
        print(f"{path}: import job {job_id} was taken over by another process", file=sys.stderr)
        return 2
    if result.state == ImportState.REJECTED:
        print(ImportRejected(str(path), result.errors, result.error_count), file=sys.stderr)
        return 1
    if result.state != ImportState.SUCCEEDED:
        print(f"{path}: the import could not run, nothing was imported: {result.message}", file=sys.stderr)
        return 2
    print(f"imported {result.imported} case(s) from {path}; {result.granted} new grant(s) from past outages")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m exemptions", description="PortalWatch cases and relief")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import-cases", help="import cases from CSV: case_id,components,deadline,time_zone")
    p.add_argument("file")
    p.add_argument("--config", help="configuration file (default: $PORTALWATCH_CONFIG or portalwatch.yaml)")
    p.set_defaults(func=import_cases_main)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        print(f"cannot import: {exc}", file=sys.stderr)
        return 2
