"""Cases: reading a cases CSV (parse.py, pure) and storing the checked rows (store.py)."""

from exemptions.cases.parse import CaseRow, ImportRejected, RowError, parse_cases_csv
from exemptions.cases.store import import_cases, known_component_ids, store_cases

__all__ = [
    "CaseRow",
    "ImportRejected",
    "RowError",
    "import_cases",
    "known_component_ids",
    "parse_cases_csv",
    "store_cases",
]
