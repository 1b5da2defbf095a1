"""`python -m exemptions import-cases FILE.csv`."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from exemptions.cases import ImportRejected
from monitor.config import ConfigError
from monitor.settings import Settings

# What each phase after reading is called on the terminal, and in the closing summary.
_PHASE_LINES = {
    "checking": "checking for duplicate case ids…",
    "merging": "storing the cases…",
    "relief": "granting the relief past outages owe them…",
}
_PHASE_NAMES = {
    "start": "start",
    "reading": "reading",
    "checking": "checking",
    "merging": "storing",
    "relief": "relief",
}


class ProgressPrinter:
    """Tells the person at the terminal how far a long import has got, on stderr.

    On a terminal: a bar while the file is read (rows, share of the file, rows per second, time left), then
    each later phase on a line whose seconds count up while it runs. Otherwise (a log, a pipe): a plain line
    every 50,000 rows or second, then one line per phase. Quiet for a small file either way: nothing is shown
    until the import has run `every_seconds` or read `every_rows`. `finish` closes with the time each phase
    took, once anything was shown.

    `position` and `total_bytes` (how far into the file the reading is, and its size) give the share read
    and the time left; without them the bar shows rows and speed only. `began`: when the command started (by
    `clock`), for the summary's first phase, `start`; by default, when the printer was made.
    """

    def __init__(
        self,
        out: TextIO,
        *,
        every_rows: int = 50_000,
        every_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        terminal: bool | None = None,
        total_bytes: int | None = None,
        position: Callable[[], int] | None = None,
        began: float | None = None,
    ) -> None:
        self.out = out
        self.every_rows = every_rows
        self.every_seconds = every_seconds
        self.clock = clock
        self.terminal = _is_terminal(out) if terminal is None else terminal
        self.total_bytes = total_bytes
        self.position = position
        self._shown_rows = 0
        self._shown_at = clock()  # "every second" counts from here
        self._began = self._shown_at if began is None else began  # the summary's, from the command's start
        self._shown_any = False
        self._phase = "start"  # configuration and schema, until the first row is read
        self._phase_began = self._began
        self._reading_began: float | None = None
        self._rows = 0
        self.seconds: dict[str, float] = {}  # per phase, once it has ended
        # On a terminal: the line being redrawn, and the thread that counts a long phase's seconds up.
        self._lock = threading.Lock()
        self._line_open = False
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def __call__(self, phase: str, rows: int) -> None:
        now = self.clock()
        self._rows = rows
        if phase != self._phase:
            self._end_phase(now)
            self._phase, self._phase_began = phase, now
        if phase == "reading":
            if self._reading_began is None:
                self._reading_began = now
            if self.terminal:
                self._draw_bar(rows, now)
            elif rows - self._shown_rows >= self.every_rows or (
                rows > self._shown_rows and now - self._shown_at >= self.every_seconds
            ):
                self._show(f"read {rows:,} rows…", rows, now)
            return
        if not self._shown_any:
            return
        if self.terminal:
            self._start_ticking()
        elif phase == "checking":
            self._show(f"read {rows:,} rows; checking for duplicate case ids…", rows, now)
        elif phase in _PHASE_LINES:
            self._show(_PHASE_LINES[phase], rows, now)

    def finish(self) -> None:
        """The import ended: close the last line, and say how long each phase took if anything was shown."""
        now = self.clock()
        self._end_phase(now)
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if not self._shown_any:
            return
        with self._lock:
            self._close_line()
            parts = ", ".join(f"{_PHASE_NAMES.get(name, name)} {s:.1f} s" for name, s in self.seconds.items())
            print(f"took {now - self._began:.1f} s: {parts}", file=self.out, flush=True)

    # --- plain lines -----------------------------------------------------------------------------------

    def _show(self, text: str, rows: int, now: float) -> None:
        print(text, file=self.out, flush=True)
        self._shown_rows, self._shown_at, self._shown_any = rows, now, True

    # --- on a terminal -----------------------------------------------------------------------------------

    def _end_phase(self, now: float) -> None:
        if self._phase in self.seconds:
            return
        self.seconds[self._phase] = now - self._phase_began
        if not (self.terminal and self._shown_any):
            return
        with self._lock:
            if self._phase == "reading":
                seconds = self.seconds["reading"]
                speed = self._rows / seconds if seconds > 0 else 0.0
                self._redraw(f"read {self._rows:,} rows in {seconds:.1f} s ({speed:,.0f} rows/s)")
            elif self._phase in _PHASE_LINES:
                self._redraw(f"{_PHASE_LINES[self._phase]} {self.seconds[self._phase]:.1f} s")
            self._close_line()

    def _draw_bar(self, rows: int, now: float) -> None:
        if not self._shown_any and rows < self.every_rows and now - self._shown_at < self.every_seconds:
            return  # a small file: quiet
        if self._shown_any and now - self._shown_at < 0.1:
            return  # at most ten redraws a second
        began = self._reading_began if self._reading_began is not None else self._began
        elapsed = max(now - began, 1e-9)
        speed = rows / elapsed
        share = self._share()
        if share is None:
            text = f"reading {rows:,} rows  {speed:,.0f} rows/s"
        else:
            width = 24
            filled = round(share * width)
            left = elapsed * (1 - share) / share if share > 0 else 0.0
            bar = "█" * filled + "░" * (width - filled)
            text = f"reading {bar} {share:4.0%}  {rows:,} rows  {speed:,.0f} rows/s  ETA {_clock(left)}"
        with self._lock:
            self._redraw(text)
        self._shown_rows, self._shown_at, self._shown_any = rows, now, True

    def _share(self) -> float | None:
        if self.position is None or not self.total_bytes:
            return None
        try:
            return min(max(self.position() / self.total_bytes, 0.0), 1.0)
        except (OSError, ValueError):  # the file is closed already
            return None

    def _start_ticking(self) -> None:
        with self._lock:
            self._redraw(_PHASE_LINES.get(self._phase, self._phase))
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="import-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                phase = self._phase
                if phase in _PHASE_LINES and phase not in self.seconds and self._line_open:
                    self._redraw(f"{_PHASE_LINES[phase]} {self.clock() - self._phase_began:.0f} s")

    def _redraw(self, text: str) -> None:
        # Carriage return, the line, and "erase to the end of the line": the bar never leaves debris behind.
        self.out.write(f"\r{text}\x1b[K")
        self.out.flush()
        self._line_open = True

    def _close_line(self) -> None:
        if self._line_open:
            self.out.write("\n")
            self.out.flush()
            self._line_open = False


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    whole = max(int(seconds + 0.5), 0)
    return f"{whole // 60}:{whole % 60:02d}"


def import_cases_main(args: argparse.Namespace) -> int:
    from monitor.cli import prepare
    from monitor.storage.enums import ImportState
    from monitor.usecases.imports import import_file

    began = time.monotonic()
    if args.config:
        os.environ["PORTALWATCH_CONFIG"] = args.config
    path = Path(args.file)
    try:
        file = path.open("rb")
        size = os.fstat(file.fileno()).st_size
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with file:
        runtime = prepare(Settings.from_env())
        progress = ProgressPrinter(sys.stderr, total_bytes=size, position=file.tell, began=began)
        try:
            # The job code the API's large uploads run, here on the file itself (see import_file): read row by
            # row, neither the file nor its rows are ever whole in memory. No retry: a person is waiting for the
            # answer, and an import failing here must not be done later by a service's sweeper behind their back.
            # The reading makes millions of short-lived tuples and no reference cycles, freed as they go: the cycle
            # collector would only rescan each batch being read, again and again (a fifth of the reading time).
            # This process does nothing else meanwhile.
            gc.disable()
            try:
                result = import_file(runtime, file, source=str(path), size=size, progress=progress)
            finally:
                gc.enable()
        except OSError as exc:
            print(f"\n{path}: cannot read: {exc.strerror or exc}; nothing was imported", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"\n{path}: interrupted; nothing was imported", file=sys.stderr)
            return 130
        finally:
            progress.finish()
            runtime.close()
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
    p = sub.add_parser(
        "import-cases",
        help=(
            "import cases from CSV: case_id,components,deadline,time_zone"
            "[,extendable,email,webhook_url,language,access_code]"
        ),
    )
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
