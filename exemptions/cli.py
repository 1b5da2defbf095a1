"""`python -m exemptions import-cases FILE.csv`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from exemptions.cases import ImportRejected, import_cases
from monitor import jobs
from monitor.config import ConfigError
from monitor.db import transaction
from monitor.settings import Settings


def import_cases_main(args: argparse.Namespace) -> int:
    from monitor.cli import prepare

    if args.config:
        os.environ["PORTALWATCH_CONFIG"] = args.config
    runtime = prepare(Settings.from_env())
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        with transaction(runtime.sessions) as session:
            rows = import_cases(session, text, source=str(path))
    except ImportRejected as rejected:
        print(rejected, file=sys.stderr)
        return 1
    granted = sum(jobs.relieve(runtime, o).granted for o in jobs.outages_touching(runtime, (r.deadline for r in rows)))
    print(f"imported {len(rows)} case(s) from {path}; {granted} new grant(s) from past outages")
    runtime.close()
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
