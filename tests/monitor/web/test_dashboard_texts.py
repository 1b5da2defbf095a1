"""The dashboard's catalogue: English and French have the same keys and placeholders, and every word a
template asks for is in it."""

from __future__ import annotations

import re
import string

from monitor.web.dashboard_texts import ENGLISH, FRENCH, ops_texts
from tests.conftest import ROOT

TEMPLATES = ROOT / "monitor" / "web" / "templates" / "dashboard"
# The keys templates build from a value: each value's key must be there too.
BUILT = {
    "severity_": ("degraded_performance", "partial_outage", "major_outage"),
    "change_": ("opened", "severity", "reopened", "ended"),
    "role_": ("viewer", "ops", "admin"),
    "source_": ("observed", "declared"),
    "language_": ("en", "fr"),
    "field_": ("started_at", "ended_at", "starts_at", "ends_at", "severity", "reason", "false_positive", "last_ok_at"),
}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_english_and_french_have_the_same_keys_and_placeholders() -> None:
    assert ENGLISH.keys() == FRENCH.keys()
    for key in ENGLISH:
        assert ENGLISH[key].strip() and FRENCH[key].strip(), key
        assert placeholders(ENGLISH[key]) == placeholders(FRENCH[key]), key


def test_every_key_a_template_uses_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_]+)\b", template.read_text())) - {"get"}
    used |= {prefix + value for prefix, values in BUILT.items() for value in values}

    used |= set(re.findall(r'"(done_[a-z_]+)"', (ROOT / "monitor" / "web" / "dashboard.py").read_text()))
    assert used - ENGLISH.keys() == set()


def test_any_other_language_gets_english() -> None:
    assert ops_texts("de") is ops_texts("en")
    assert ops_texts("fr")["sign_in"] == "Se connecter"
