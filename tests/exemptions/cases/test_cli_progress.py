"""`python -m exemptions import-cases` runs the import job: progress on stderr, the same answers as before."""

from __future__ import annotations

import io
import re
from pathlib import Path

from sqlalchemy import func, select

from exemptions.cases import verify_code
from exemptions.cli import ProgressPrinter
from monitor.storage.engine import transaction
from monitor.storage.enums import ImportState
from monitor.storage.models import Case, ImportJob
from tests.conftest import make_runtime
from tests.exemptions.cases.conftest import holding_code, import_with_cli

HEADER = "case_id,components,deadline,time_zone"


def rows(n: int) -> list[str]:
    return [f"C-{i:06d},pr-portal,2026-12-{1 + i % 28:02d}T10:00:00-05:00,America/Toronto" for i in range(1, n + 1)]


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def stored(cli: tuple[Path, dict[str, str]]) -> tuple[int, list[ImportState]]:
    """The cases stored, and the states of the import jobs the CLI ran."""
    config, env = cli
    runtime = make_runtime(env["DATABASE_URL"], config.read_text(encoding="utf-8"))
    try:
        with transaction(runtime.sessions) as session:
            cases = session.scalar(select(func.count()).select_from(Case)) or 0
            return cases, list(session.scalars(select(ImportJob.state)))
    finally:
        runtime.close()


# --- the command ---------------------------------------------------------------------------------


def test_a_large_file_shows_progress_on_stderr_and_ends_with_the_usual_line(
    cli: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "big.csv", rows(60_000))
    result = import_with_cli(cli, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"imported 60000 case(s) from {path}; 0 new grant(s) from past outages\n"
    progress = result.stderr.splitlines()
    # How often it reports depends on how fast the machine reads; that it reports before the end does not.
    assert any(re.fullmatch(r"read [0-9]{1,2},[0-9]{3} rows…", line) for line in progress), progress
    assert all(line.startswith(("read ", "storing", "granting", "took ")) for line in progress), progress
    assert re.fullmatch(
        r"took [0-9.]+ s: start [0-9.]+ s, reading [0-9.]+ s, checking [0-9.]+ s, storing [0-9.]+ s, relief [0-9.]+ s",
        progress[-1],
    ), progress[-1]
    assert stored(cli) == (60_000, [ImportState.SUCCEEDED])


def test_a_small_file_imports_quietly(cli: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    result = import_with_cli(cli, write_csv(tmp_path / "small.csv", rows(10)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "imported 10 case(s)" in result.stdout


def test_a_file_with_many_problems_lists_fifty_and_counts_the_rest(
    cli: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    lines = rows(200)
    for i in range(0, 200, 2):
        lines[i] = f"C-{i + 1:06d},pr-portal,2026-13-45T10:00:00-05:00,America/Toronto"
    path = write_csv(tmp_path / "bad.csv", lines)
    result = import_with_cli(cli, path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{path}: 100 problem(s), nothing imported:\n  row 1 (line 2), column deadline: ")
    assert "  row 99 (line 100), column deadline: " in result.stderr
    assert "row 101 (line 102)" not in result.stderr
    assert result.stderr.rstrip().endswith("… and 50 more")
    assert stored(cli) == (0, [ImportState.REJECTED])


def test_a_repeated_case_id_is_named_at_its_line_with_the_line_it_first_appeared_on(
    cli: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    lines = rows(20)
    lines.append(lines[2])
    result = import_with_cli(cli, write_csv(tmp_path / "dup.csv", lines))
    assert result.returncode == 1
    assert "row 21 (line 22), column case_id: 'C-000003' already appears on line 4" in result.stderr
    assert stored(cli)[0] == 0


def test_bytes_that_are_not_utf8_are_named_at_their_row_rather_than_refusing_the_file(
    cli: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\nC-1,pr-portal,2026-12-01T10:00:00-05:00,Am\xe9rica/Toronto\n".encode("latin-1"))
    result = import_with_cli(cli, path)
    assert result.returncode == 1
    assert "row 1 (line 2), column time_zone: contains text that is not valid Unicode" in result.stderr


# --- what the progress printer shows ---------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_shown_every_fifty_thousand_rows() -> None:
    out, clock = io.StringIO(), FakeClock()
    show = ProgressPrinter(out, clock=clock)
    for rows_read in range(5_000, 130_001, 5_000):
        show("reading", rows_read)
    show("checking", 130_000)
    show("merging", 130_000)
    show("relief", 130_000)
    assert out.getvalue().splitlines() == [
        "read 50,000 rows…",
        "read 100,000 rows…",
        "read 130,000 rows; checking for duplicate case ids…",
        "storing the cases…",
        "granting the relief past outages owe them…",
    ]


def test_progress_is_shown_every_second_when_rows_come_slowly() -> None:
    out, clock = io.StringIO(), FakeClock()
    show = ProgressPrinter(out, clock=clock)
    for rows_read in (1_000, 2_000, 3_000):
        clock.now += 0.6
        show("reading", rows_read)
    clock.now += 5
    show("reading", 3_000)
    clock.now += 5
    show("reading", 3_000)  # nothing read since the last line: nothing to say
    assert out.getvalue().splitlines() == ["read 2,000 rows…", "read 3,000 rows…"]


def test_a_quick_import_shows_no_progress_at_all() -> None:
    out, clock = io.StringIO(), FakeClock()
    show = ProgressPrinter(out, clock=clock)
    for phase, rows_read in [("reading", 5_000), ("reading", 9_000), ("checking", 9_000), ("merging", 9_000)]:
        show(phase, rows_read)
    assert out.getvalue() == ""


# --- on a terminal: a bar -------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(out: io.StringIO) -> list[str]:
    """What a terminal shows: each line as its last carriage return left it, escape codes dropped."""
    return [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in out.getvalue().split("\n")]


def test_on_a_terminal_reading_shows_a_bar_with_share_rows_speed_and_time_left() -> None:
    out, clock = Terminal(), FakeClock()
    position = {"bytes": 0}
    show = ProgressPrinter(out, clock=clock, total_bytes=1000, position=lambda: position["bytes"])
    assert show.terminal
    show("reading", 0)
    for step in range(1, 5):
        clock.now += 1.0
        position["bytes"] = 200 * step
        show("reading", 100_000 * step)
    assert out.getvalue().count("\r") == 4
    assert screen(out) == ["reading ███████████████████░░░░░  80%  400,000 rows  100,000 rows/s  ETA 0:01"]
    clock.now += 0.05
    position["bytes"] = 1000
    show("reading", 450_000)  # less than a tenth of a second since the last: not redrawn
    assert out.getvalue().count("\r") == 4


def test_on_a_terminal_each_later_phase_gets_a_line_with_its_time_and_the_end_a_summary() -> None:
    out, clock = Terminal(), FakeClock()
    show = ProgressPrinter(out, clock=clock, began=-2.0)
    show("reading", 0)
    clock.now += 2.0
    show("reading", 200_000)
    show("checking", 200_000)
    clock.now += 0.5
    show("merging", 200_000)
    clock.now += 10.0
    show("relief", 200_000)
    clock.now += 1.0
    show.finish()
    assert screen(out) == [
        "read 200,000 rows in 2.0 s (100,000 rows/s)",
        "checking for duplicate case ids… 0.5 s",
        "storing the cases… 10.0 s",
        "granting the relief past outages owe them… 1.0 s",
        "took 15.5 s: start 2.0 s, reading 2.0 s, checking 0.5 s, storing 10.0 s, relief 1.0 s",
        "",
    ]


def test_on_a_terminal_a_quick_import_shows_nothing_at_all() -> None:
    out, clock = Terminal(), FakeClock()
    show = ProgressPrinter(out, clock=clock, total_bytes=100, position=lambda: 50)
    for phase, rows_read in [("reading", 0), ("reading", 5_000), ("checking", 5_000), ("merging", 5_000)]:
        clock.now += 0.1
        show(phase, rows_read)
    show.finish()
    assert out.getvalue() == ""


def test_without_a_terminal_the_summary_follows_the_plain_lines() -> None:
    out, clock = io.StringIO(), FakeClock()
    show = ProgressPrinter(out, clock=clock)
    show("reading", 0)
    clock.now += 3.0
    show("reading", 60_000)
    show("checking", 60_000)
    clock.now += 1.0
    show.finish()
    assert out.getvalue().splitlines() == [
        "read 60,000 rows…",
        "read 60,000 rows; checking for duplicate case ids…",
        "took 4.0 s: start 0.0 s, reading 3.0 s, checking 1.0 s",
    ]


# --- the optional columns through the command, on both back ends -----------------------------------


def stored_contacts(cli: tuple[Path, dict[str, str]]) -> dict[str, tuple[bool, str | None, str | None, str | None]]:
    config, env = cli
    runtime = make_runtime(env["DATABASE_URL"], config.read_text(encoding="utf-8"))
    try:
        with transaction(runtime.sessions) as session:
            return {
                case.case_id: (case.extendable, case.email, case.webhook_url, case.language)
                for case in session.scalars(select(Case))
            }
    finally:
        runtime.close()


def test_the_command_imports_the_optional_columns_and_names_a_bad_one_by_row_line_and_column(
    cli_on: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    header = f"{HEADER},extendable,email,webhook_url,language"
    good = tmp_path / "good.csv"
    good.write_text(
        "\n".join(
            [
                header,
                "A-1,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto,false,a@example.ca,https://h.example.ca/a,fr",
                "A-2,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto,,,,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    result = import_with_cli(cli_on, good)
    assert result.returncode == 0, result.stderr
    assert stored_contacts(cli_on) == {
        "A-1": (False, "a@example.ca", "https://h.example.ca/a", "fr"),
        "A-2": (True, None, None, None),
    }
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{header}\nA-1,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto,true,,,gr\n", encoding="utf-8")
    result = import_with_cli(cli_on, bad)
    assert result.returncode == 1
    assert "row 1 (line 2), column language: 'gr' is not a language cases are written to in" in result.stderr
    assert stored_contacts(cli_on)["A-1"] == (False, "a@example.ca", "https://h.example.ca/a", "fr")


def stored_hashes(cli: tuple[Path, dict[str, str]]) -> dict[str, str | None]:
    config, env = cli
    runtime = make_runtime(env["DATABASE_URL"], config.read_text(encoding="utf-8"))
    try:
        with transaction(runtime.sessions) as session:
            return {
                case_id: access_hash for case_id, access_hash in session.execute(select(Case.case_id, Case.access_hash))
            }
    finally:
        runtime.close()


def test_the_command_stores_access_codes_only_as_hashes_and_names_a_bad_one_without_showing_it(
    cli_on: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "codes.csv"
    path.write_text(
        f"{HEADER},access_code\nA-1,pr-portal,2026-12-01T10:00:00-05:00,UTC,abcd-wxyz\n"
        "A-2,pr-portal,2026-12-01T10:00:00-05:00,UTC,\n",
        encoding="utf-8",
    )
    result = import_with_cli(cli_on, path)
    assert result.returncode == 0, result.stderr
    hashes = stored_hashes(cli_on)
    first = hashes["A-1"]
    assert first is not None and verify_code("ABCDWXYZ", first) and not verify_code("ABCDWXYY", first)
    assert hashes["A-2"] is None
    config, env = cli_on
    runtime = make_runtime(env["DATABASE_URL"], config.read_text(encoding="utf-8"))
    try:
        assert holding_code(runtime, "ABCDWXYZ") == []
    finally:
        runtime.close()
    bad = tmp_path / "bad-code.csv"
    bad.write_text(f"{HEADER},access_code\nA-1,pr-portal,2026-12-01T10:00:00-05:00,UTC,QZXW\n", encoding="utf-8")
    result = import_with_cli(cli_on, bad)
    assert result.returncode == 1
    assert "row 1 (line 2), column access_code: must be 8 to 64 letters (A to Z) or digits (got 4)" in result.stderr
    assert "QZXW" not in result.stderr + result.stdout
    assert stored_hashes(cli_on)["A-1"] == first
