"""Cases: reading a cases CSV (parse.py, pure), access codes as slow hashes (access.py, pure) and storing the
checked rows (store.py)."""

from exemptions.cases.access import AccessCode, hash_code, normalise_code, verify_code
from exemptions.cases.parse import CaseRow, ImportRejected, RowError, parse_cases_csv, read_cases_csv
from exemptions.cases.store import import_cases, known_component_ids, store_cases

__all__ = [
    "AccessCode",
    "CaseRow",
    "ImportRejected",
    "RowError",
    "hash_code",
    "import_cases",
    "known_component_ids",
    "normalise_code",
    "parse_cases_csv",
    "read_cases_csv",
    "store_cases",
    "verify_code",
]
