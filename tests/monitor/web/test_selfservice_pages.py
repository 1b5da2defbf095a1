"""The self-service pages, in English and in French: the served HTML checked fast, then judged in a real browser.

Letters and cases come from the real code paths: an employer's request signs an outage attestation on
the spot (the recorded outage is too brief for paper filing), and a case relieved by that outage gets
an extension notice from the signing job.
"""

from __future__ import annotations

import html as html_text
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, FilePayload, Page
from sqlalchemy import update
from werkzeug.serving import make_server

import monitor.web
from exemptions.policy.model import Rule
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import LetterKind
from monitor.storage.models import Check, Letter, Outage
from monitor.usecases.letters import KIND_TITLES, issue_letters, letter_pdf
from monitor.usecases.relief import relieve
from monitor.usecases.selfservice import request_paper_filing
from monitor.web import create_app
from monitor.web.texts import ENGLISH, FRENCH, language, texts, when
from tests.monitor.web.conftest import add_case, add_outage

WEB = Path(monitor.web.__file__).parent
STYLESHEET = WEB / "static" / "selfservice.css"
TEMPLATES = WEB / "templates" / "selfservice"
NBSP = "\u00a0"
T = TypeVar("T")

FORM_PAGES = {"/verify": "verify_form_title", "/case": "case_title", "/paper-filing": "paper_title"}
CASE_ID = "C-2026-0042"
ACCESS_CODE = "ABCD1234EFGH"
# Text and the backgrounds it is set on, by the stylesheet's custom properties.
COLOUR_PAIRS = [
    ("fg", "bg"),
    ("muted", "bg"),
    ("link", "bg"),
    ("link-visited", "bg"),
    ("button-fg", "button-bg"),
    ("bad-fg", "bg"),
    ("fg", "panel"),
    ("link", "panel"),
    ("fg", "info-bg"),
    ("link", "info-bg"),
    ("fg", "ok-bg"),
    ("ok-fg", "ok-bg"),
    ("link", "ok-bg"),
    ("fg", "warn-bg"),
    ("warn-fg", "warn-bg"),
    ("link", "warn-bg"),
    ("fg", "bad-bg"),
    ("bad-fg", "bad-bg"),
    ("link", "bad-bg"),
]


# --- reading a page --------------------------------------------------------------------------------


class Outline(HTMLParser):
    """What the accessibility checks need of a page: its language, h1s, form controls and their labels."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.h1 = 0
        self.controls: list[dict[str, str | None]] = []
        self.labelled_ids: set[str] = set()
        self.inline_code: list[str] = []
        self._open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "html":
            self.lang = named.get("lang")
        if tag == "h1":
            self.h1 += 1
        if tag == "script" or "style" in named or tag == "style" or any(name.startswith("on") for name in named):
            self.inline_code.append(tag)
        if tag == "label":
            self._open_labels += 1
            if named.get("for"):
                self.labelled_ids.add(str(named["for"]))
        if tag in ("input", "select", "textarea") and named.get("type") not in ("hidden", "submit"):
            self.controls.append({**named, "wrapped": "yes" if self._open_labels else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._open_labels -= 1

    def unlabelled(self) -> list[dict[str, str | None]]:
        return [c for c in self.controls if not c["wrapped"] and c.get("id") not in self.labelled_ids]

    def control(self, control_id: str) -> dict[str, str | None]:
        (found,) = [c for c in self.controls if c.get("id") == control_id]
        return found


def outline_of(page: str) -> Outline:
    outline = Outline()
    outline.feed(page)
    return outline


def csrf_token(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found is not None
    return found.group(1)


def text_of(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    return re.sub(r"[ \t\r\n]+", " ", html_text.unescape(re.sub(r"<[^>]+>", " ", page)))


def other(lang: str) -> str:
    return "fr" if lang == "en" else "en"


# --- what a person is shown ------------------------------------------------------------------------


def beside_the_browser(work: Callable[[], T]) -> T:
    """Run `work` in a worker thread. Signing a letter runs an event loop of its own, which cannot start in
    the thread where the browser driver's loop is already running (the letters' signer says so)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def attestation_code(runtime: Runtime) -> str:
    """An employer's request at 10:30 EST on 20 November, inside the recorded one-hour outage."""
    add_outage(runtime)
    request = {
        "component": "pr-portal",
        "attempted_at": "2026-11-20T10:30:00-05:00",
        "organisation": "Acme Staffing Ltd.",
        "email": "hr@acme.example",
        "language": "en",
    }
    answer = beside_the_browser(lambda: request_paper_filing(runtime, request))
    assert answer.body["letter"] is not None, answer.body
    code: str = answer.body["letter"]["code"]
    return code


def case_with_extension(runtime: Runtime) -> None:
    """A case due 17:00 EST on 20 November, the day of the outage: relief extends it and a letter is signed."""
    outage_id = add_outage(runtime)
    add_case(runtime, CASE_ID, deadline=datetime(2026, 11, 20, 22, 0, tzinfo=UTC), access_code=ACCESS_CODE)
    relieve(runtime, outage_id)
    assert beside_the_browser(lambda: issue_letters(runtime)) == 1


def record_checks(runtime: Runtime, around: datetime) -> None:
    """Checks of the permanent residence portal every ten minutes from two locations, one of them failed once."""
    with transaction(runtime.sessions) as session:
        for location in ("montreal", "toronto"):
            for step in range(-6, 7):
                at = around + timedelta(minutes=10 * step)
                session.add(
                    Check(
                        probe_id="pr-home",
                        location=location,
                        slot=at,
                        started_at=at,
                        ok=not (location == "toronto" and step == 0),
                        latency_ms=120.0,
                        status_code=200,
                    )
                )


# --- served HTML -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("path", list(FORM_PAGES))
def test_each_form_page_is_in_the_asked_language_with_every_field_labelled(
    client: FlaskClient, path: str, lang: str
) -> None:
    answer = client.get(f"{path}?lang={lang}")

    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    outline = outline_of(page)
    assert outline.lang == lang
    assert outline.h1 == 1
    assert outline.controls
    assert outline.unlabelled() == []
    assert outline.inline_code == []  # the CSP allows no inline script or style
    assert f'hreflang="{other(lang)}" lang="{other(lang)}"' in page
    assert 'class="skip-link" href="#main"' in page and 'id="main"' in page
    assert 'name="csrf_token"' in page
    assert texts(lang)[FORM_PAGES[path]] in text_of(page)
    assert "'unsafe-inline'" not in answer.headers["Content-Security-Policy"]


def test_the_browser_preference_chooses_the_language_and_the_query_overrides_it(client: FlaskClient) -> None:
    canadian_french = {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}

    assert outline_of(client.get("/case", headers=canadian_french).get_data(as_text=True)).lang == "fr"
    assert outline_of(client.get("/case?lang=en", headers=canadian_french).get_data(as_text=True)).lang == "en"
    assert outline_of(client.get("/case", headers={"Accept-Language": "de"}).get_data(as_text=True)).lang == "en"
    assert outline_of(client.get("/case?lang=xx").get_data(as_text=True)).lang == "en"
    app = client.application
    with app.test_request_context("/case", method="POST", data={"lang": "fr"}):
        assert language() == "fr"
    with app.test_request_context("/case?lang=en", method="POST", data={"lang": "fr"}, headers=canadian_french):
        assert language() == "en"


@pytest.mark.parametrize("path", list(FORM_PAGES))
def test_a_form_sent_without_its_token_is_refused_with_a_400_page(client: FlaskClient, path: str) -> None:
    answer = client.post(path, data={"code": "7KQ2M9XD3FPAV", "case_id": CASE_ID, "access_code": ACCESS_CODE})

    assert answer.status_code == 400
    assert answer.mimetype == "text/html"
    assert "Reload the page" in answer.get_data(as_text=True)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_malformed_code_is_a_422_page_naming_the_error_beside_the_field(client: FlaskClient, lang: str) -> None:
    token = csrf_token(client, f"/verify?lang={lang}")

    answer = client.post(f"/verify?lang={lang}", data={"csrf_token": token, "code": "not a code!"})

    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    outline = outline_of(page)
    assert outline.lang == lang
    assert outline.h1 == 1
    field = outline.control("code")
    assert field["aria-invalid"] == "true"
    assert "code-error" in str(field["aria-describedby"]).split()
    assert 'id="code-error" role="alert"' in page
    assert texts(lang)["code_malformed"] in text_of(page)
    assert f"<title>{texts(lang)['error_prefix']}" in html_text.unescape(page)
    assert field["value"] == "not a code!"  # what they typed stays, to correct


def test_over_https_a_form_posted_from_the_site_passes_the_csrf_referer_check(client: FlaskClient) -> None:
    https = "https://status.test"
    page = client.get("/verify?lang=en", base_url=https)
    # The browser sends the Referer within the site only because the page allows it.
    assert page.headers["Referrer-Policy"] == "same-origin"
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found
    answer = client.post(
        "/verify?lang=en",
        data={"csrf_token": found.group(1), "code": "not a code!"},
        base_url=https,
        headers={"Referer": f"{https}/verify?lang=en"},
    )
    assert answer.status_code == 422  # past the CSRF check, to the form's own validation


def test_a_good_code_typed_loosely_leads_to_its_letter(client: FlaskClient, runtime: Runtime) -> None:
    code = attestation_code(runtime)
    token = csrf_token(client, "/verify?lang=fr")

    answer = client.post("/verify?lang=fr", data={"csrf_token": token, "code": f" {code[:4].lower()}-{code[4:]} "})

    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/verify/{code}?lang=fr")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_code_nobody_was_given_is_a_404_page(client: FlaskClient, lang: str) -> None:
    answer = client.get(f"/verify/7kq2-m9xd3-fpav?lang={lang}")

    assert answer.status_code == 404
    page = answer.get_data(as_text=True)
    assert outline_of(page).lang == lang
    words = text_of(page)
    assert texts(lang)["status_not_found_label"] in words
    assert "7KQ2-M9XD3-FPAV" in words
    assert outline_of(page).unlabelled() == []

    odd = client.get(f"/verify/%3Cb%3Ehello%3C%2Fb%3E?lang={lang}")
    assert odd.status_code == 404
    assert "<b>hello</b>" not in odd.get_data(as_text=True)  # shown as text, never as markup


def test_a_verified_letter_says_what_it_grants_in_both_languages(client: FlaskClient, runtime: Runtime) -> None:
    code = attestation_code(runtime)

    english = text_of(client.get(f"/verify/{code}?lang=en").get_data(as_text=True))
    french = text_of(client.get(f"/verify/{code}?lang=fr").get_data(as_text=True))

    assert "Valid. We issued this letter" in english
    assert "Valide. Nous avons délivré cette lettre" in french
    for words, lang in ((english, "en"), (french, "fr")):
        assert texts(lang)["kind_attestation"] in words
        assert texts(lang)["grants_attestation"] in words
        assert "Acme Staffing Ltd." in words
        assert "Permanent residence portal" in words
    # The outage counted from the last good check, 09:59 EST, to 11:00 EST.
    assert "Friday, November 20, 2026, 9:59\u00a0a.m. EST" in english
    assert "vendredi 20 novembre 2026, 11\u00a0h\u00a000 HNE" in french


def test_a_paper_filing_error_is_shown_beside_its_field_and_the_answers_are_kept(client: FlaskClient) -> None:
    token = csrf_token(client, "/paper-filing?lang=fr")

    answer = client.post(
        "/paper-filing?lang=fr",
        data={
            "csrf_token": token,
            "component": "pr-portal",
            "attempted_at": "2026-11-21T10:30",
            "time_zone": "America/Halifax",
            "organisation": "Acme Staffing Ltd.",
            "email": "not an address",
            "language": "fr",
        },
    )

    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    outline = outline_of(page)
    email = outline.control("email")
    assert email["aria-invalid"] == "true"
    assert str(email["aria-describedby"]).split() == ["email-hint", "email-error"]
    assert 'id="email-error" role="alert"' in page
    assert FRENCH["error_email"] in text_of(page)
    assert outline.control("organisation").get("aria-invalid") is None
    assert outline.control("organisation")["value"] == "Acme Staffing Ltd."
    assert '<option value="America/Halifax" selected>' in page
    assert 'value="fr" checked' in page


def long_outage(runtime: Runtime) -> None:
    """The permanent residence portal down five hours on Friday 20 November, 09:00 to 14:00 EST."""
    with transaction(runtime.sessions) as session:
        session.add(
            Outage(
                component_id="pr-portal",
                started_at=datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
                last_ok_at=datetime(2026, 11, 20, 13, 59, tzinfo=UTC),
                ended_at=datetime(2026, 11, 20, 19, 0, tzinfo=UTC),
                detected_at=datetime(2026, 11, 20, 14, 1, tzinfo=UTC),
            )
        )


def ask_on_the_page(client: FlaskClient, lang: str, attempted_at: str) -> tuple[int, str]:
    token = csrf_token(client, f"/paper-filing?lang={lang}")
    form = {
        "csrf_token": token,
        "component": "pr-portal",
        "attempted_at": attempted_at,
        "time_zone": "America/Toronto",
        "organisation": "Acme Staffing Ltd.",
        "email": "hr@acme.example",
        "language": lang,
    }
    answer = beside_the_browser(lambda: client.post(f"/paper-filing?lang={lang}", data=form))
    return answer.status_code, answer.get_data(as_text=True)


def test_a_request_during_a_long_outage_gets_its_paper_filing_letter_on_the_page(
    client: FlaskClient, runtime: Runtime
) -> None:
    long_outage(runtime)

    status, page = ask_on_the_page(client, "en", "2026-11-20T10:30")

    assert status == 201
    words = text_of(page)
    assert "Paper filing authorized. A long enough outage covers the time you gave." in words
    assert "Start Friday, November 20, 2026, 8:59\u00a0a.m. EST" in words
    assert texts("en")["kind_paper_filing"] in words
    found = re.search(r'href="/letters/([0-9A-Z]{13})\.pdf"', page)
    assert found is not None
    assert f'href="/verify/{found.group(1)}?lang=en"' in page


def test_a_request_during_a_short_outage_gets_an_attestation_and_the_reason_in_french(
    client: FlaskClient, runtime: Runtime
) -> None:
    add_outage(runtime)

    status, page = ask_on_the_page(client, "fr", "2026-11-20T10:30")

    assert status == 200
    words = text_of(page)
    assert "Dépôt sur papier non autorisé." in words
    assert "Motif\u00a0: Le registre du portail indique une panne de 61 minutes" in words
    assert texts("fr")["kind_attestation"] in words
    assert outline_of(page).lang == "fr"


def test_a_replaced_letter_still_verifies_and_points_to_the_newer_one(client: FlaskClient, runtime: Runtime) -> None:
    code = attestation_code(runtime)
    with transaction(runtime.sessions) as session:
        session.execute(update(Letter).where(Letter.code == code).values(superseded_by="7KQ2M9XD3FPAV"))

    page = client.get(f"/verify/{code}?lang=fr").get_data(as_text=True)

    assert "Valide, mais remplacée." in text_of(page)
    assert '<a class="code" href="/verify/7KQ2M9XD3FPAV?lang=fr">7KQ2-M9XD3-FPAV</a>' in page


# --- the catalogue and its times ------------------------------------------------------------------


def template_keys() -> set[str]:
    keys: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text()
        keys.update(re.findall(r"\bt\.([a-z_]+)\b", source))
        keys.update(re.findall(r"\bt\[\"([a-z_]+)\"\]", source))
    keys.discard("get")
    return keys


def test_the_catalogue_says_everything_in_both_languages() -> None:
    assert ENGLISH.keys() == FRENCH.keys()
    assert {"code_malformed", "case_not_found"} <= ENGLISH.keys()
    for catalogue in (ENGLISH, FRENCH):
        assert all(value.strip() == value and value for value in catalogue.values())
    assert template_keys() <= ENGLISH.keys()
    for lang, index in (("en", 0), ("fr", 1)):
        words = texts(lang)
        for kind, titles in KIND_TITLES.items():
            assert words[f"kind_{kind.value}"] == titles[index]  # as the letters themselves name it
        assert {f"rule_{rule.value}" for rule in Rule} <= words.keys()
        assert {"language_en", "language_fr"} <= words.keys()
    assert {f"kind_{kind.value}" for kind in LetterKind} <= ENGLISH.keys()
    for key in ENGLISH:
        if key.startswith("zone_"):
            ZoneInfo(key.removeprefix("zone_"))
    # Canadian French typography: a non-breaking space before every colon.
    for key, value in FRENCH.items():
        for at in (m.start() for m in re.finditer(":", value)):
            assert value[at - 1] == NBSP, (key, value)
    assert texts("de") is texts("en")


def test_times_are_written_as_people_read_them_with_their_zone() -> None:
    winter = "2026-11-20T15:00:00+00:00"
    assert when(winter, "America/Toronto", "en") == "Friday, November 20, 2026, 10:00\u00a0a.m. EST"
    assert when(winter, "America/Toronto", "fr") == "vendredi 20 novembre 2026, 10\u00a0h\u00a000 HNE"
    deadline = "2026-11-27T23:59:59-05:00"
    assert when(deadline, "America/Toronto", "en") == "Friday, November 27, 2026, 11:59:59\u00a0p.m. EST"
    assert when(deadline, "America/Toronto", "fr") == (
        "vendredi 27 novembre 2026, 23\u00a0h\u00a059\u00a0min\u00a059\u00a0s HNE"
    )
    summer = "2026-07-01T16:00:00+00:00"
    assert when(summer, "America/Vancouver", "en") == "Wednesday, July 1, 2026, 9:00\u00a0a.m. PDT"
    assert when(summer, "America/Vancouver", "fr") == "mercredi 1er juillet 2026, 9\u00a0h\u00a000 HAP"
    assert when(summer, "America/Sao_Paulo", "en").endswith(" UTC-03:00")
    assert when(datetime(2026, 11, 20, 17, tzinfo=UTC), "UTC", "en") == "Friday, November 20, 2026, 5:00\u00a0p.m. UTC"
    assert when(None, "America/Toronto", "en") == ""
    assert when("soon", "America/Toronto", "en") == "soon"


def css_colours() -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", STYLESHEET.read_text()))


def luminance(red: float, green: float, blue: float) -> float:
    def linear(channel: float) -> float:
        channel /= 255
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def contrast(one: tuple[float, float, float], two: tuple[float, float, float]) -> float:
    lighter, darker = sorted((luminance(*one), luminance(*two)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_stylesheet_colours_meet_aa_contrast() -> None:
    colours = css_colours()

    for text, background in COLOUR_PAIRS:
        ratio = contrast(hex_rgb(colours[text]), hex_rgb(colours[background]))
        assert ratio >= 4.5, f"--{text} on --{background}: {ratio:.2f}:1"
    # The focus ring and field borders are not text: WCAG asks 3:1 of them against the page.
    assert contrast(hex_rgb(colours["focus"]), hex_rgb(colours["bg"])) >= 3
    assert contrast(hex_rgb(colours["border"]), hex_rgb(colours["bg"])) >= 3


# --- in a real browser -----------------------------------------------------------------------------


@pytest.fixture
def served(runtime: Runtime) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """The narrowest screen WCAG reflow asks for (320 CSS pixels), with scripts off: the pages need none."""
    context = browser.new_context(viewport={"width": 320, "height": 720}, java_script_enabled=False)
    yield context.new_page()
    context.close()


_TEXT_COLOURS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('body, body *')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!own || el.getClientRects().length === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    let background = null;
    for (let node = el; node && !background; node = node.parentElement) {
      const colour = getComputedStyle(node).backgroundColor;
      if (colour !== 'transparent' && !/^rgba\\(.*, 0\\)$/.test(colour)) background = colour;
    }
    out.push({tag: el.tagName, text: el.textContent.trim().slice(0, 40), color: style.color,
              background: background || 'rgb(255, 255, 255)'});
  }
  return out;
}"""

_CONTROLS = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).map(el => ({
  id: el.id, label: Array.from(el.labels || []).map(label => label.innerText.trim()).join(' ')
}))"""


def rgb(css: str) -> tuple[float, float, float]:
    red, green, blue = (float(part) for part in re.findall(r"[\d.]+", css)[:3])
    return red, green, blue


def audit(page: Page, lang: str) -> None:
    """WCAG 2.1 AA checks a machine can make: language, one h1, named fields, contrast, reflow, focus."""
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("h1").count() == 1
    for control in page.evaluate(_CONTROLS):
        assert control["label"], f"#{control['id']} has no label"
        named = page.get_by_label(control["label"], exact=True)
        assert control["id"] in named.evaluate_all("elements => elements.map(element => element.id)")
    switch = page.locator(f'a[hreflang="{other(lang)}"][lang="{other(lang)}"]')
    assert switch.count() == 1 and switch.get_attribute("href", timeout=1000) is not None
    for element in page.evaluate(_TEXT_COLOURS):
        ratio = contrast(rgb(element["color"]), rgb(element["background"]))
        assert ratio >= 4.5, f"{element['tag']} {element['text']!r}: {ratio:.2f}:1"
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.className, s.outlineStyle, s.outlineWidth]; })()"
    )
    assert focused == ["skip-link", "solid", "3px"]


@pytest.mark.timeout(120)
def test_a_letter_is_checked_in_a_browser_in_english_and_in_french(
    phone: Page, served: str, runtime: Runtime, tmp_path: Path
) -> None:
    code = attestation_code(runtime)
    with transaction(runtime.sessions) as session:
        issued = letter_pdf(session, code)
    assert issued is not None
    grouped = f"{code[:4]}-{code[4:9]}-{code[9:]}"

    for lang, verdict in (("en", "Valid."), ("fr", "Valide.")):
        response = phone.goto(f"{served}/verify/{code}?lang={lang}")
        assert response is not None and response.status == 200
        assert phone.locator("#verdict").inner_text().startswith(verdict)
        main = phone.locator("main").inner_text()
        assert grouped in main
        assert "Permanent residence portal" in main
        assert texts(lang)["kind_attestation"] in main
        assert phone.get_by_role("link", name=texts(lang)["download_pdf"]).get_attribute("href") == (
            f"/letters/{code}.pdf"
        )
        audit(phone, lang)
        phone.screenshot(path=str(tmp_path / f"letter-{lang}.png"), full_page=True)

    # The language switch keeps the reader on the same letter.
    phone.goto(f"{served}/verify/{code}?lang=en")
    phone.get_by_role("link", name="Français").click()
    assert phone.locator("html").get_attribute("lang") == "fr"
    assert phone.locator("#verdict").inner_text().startswith("Valide.")

    for lang, verdict in (("en", "Not found."), ("fr", "Introuvable.")):
        response = phone.goto(f"{served}/verify/7KQ2M9XD3FPAV?lang={lang}")
        assert response is not None and response.status == 404
        assert phone.locator("#verdict").inner_text().startswith(verdict)
        assert "7KQ2-M9XD3-FPAV" in phone.locator("#verdict").inner_text()
        audit(phone, lang)

    # Typed as a person would, from the form (with the page's own CSRF token).
    phone.goto(f"{served}/verify?lang=fr")
    audit(phone, "fr")
    phone.get_by_label("Code de vérification").fill(grouped.lower())
    phone.get_by_role("button", name="Vérifier le code").click()
    assert phone.url.endswith(f"/verify/{code}?lang=fr")
    assert phone.locator("#verdict").inner_text().startswith("Valide.")

    # The issued file is genuine; one changed byte is not.
    phone.get_by_label("Lettre (fichier PDF)").set_input_files(
        files=[FilePayload(name="lettre.pdf", mimeType="application/pdf", buffer=issued)]
    )
    phone.get_by_role("button", name="Vérifier le fichier").click()
    assert phone.locator("#verdict").inner_text().startswith("Authentique.")
    assert grouped in phone.locator("main").inner_text()
    audit(phone, "fr")
    altered = bytearray(issued)
    altered[len(altered) // 3] ^= 0x01
    phone.goto(f"{served}/verify?lang=en")
    phone.get_by_label("Letter (PDF file)").set_input_files(
        files=[FilePayload(name="letter.pdf", mimeType="application/pdf", buffer=bytes(altered))]
    )
    phone.get_by_role("button", name="Check the file").click()
    assert phone.locator("#verdict").inner_text().startswith("Not genuine.")
    audit(phone, "en")


@pytest.mark.timeout(120)
def test_a_case_is_looked_up_in_a_browser(phone: Page, served: str, runtime: Runtime, tmp_path: Path) -> None:
    case_with_extension(runtime)

    phone.goto(f"{served}/case?lang=en")
    audit(phone, "en")
    phone.get_by_label("Case number").fill(CASE_ID)
    phone.get_by_label("Access code").fill("abcd-1234-efgh")
    phone.get_by_role("button", name="Look up").click()

    deadline = phone.locator("#effective-deadline").inner_text()
    # Due 17:00 EST on the day of the outage: seven calendar days of grace from the day it ended.
    assert "Friday, November 27, 2026, 11:59:59\u00a0p.m. EST" in deadline
    assert "Original deadline: Friday, November 20, 2026, 5:00\u00a0p.m. EST" in deadline
    rows = phone.locator("#letters tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "Deadline extension" in row and "In force" in row
    letter_code = rows.first.get_attribute("data-code")
    assert letter_code is not None
    assert f"{letter_code[:4]}-{letter_code[4:9]}-{letter_code[9:]}" in row
    main = phone.locator("main").inner_text()
    assert texts("en")["rule_deadline_day"] in main
    assert ENGLISH["decision_final"] in main
    audit(phone, "en")
    phone.screenshot(path=str(tmp_path / "case-en.png"), full_page=True)
    rows.first.get_by_role("link", name=re.compile("^Verify")).click()
    assert phone.locator("#verdict").inner_text().startswith("Valid.")
    assert "Deadline extension" in phone.locator("main").inner_text()

    phone.goto(f"{served}/case?lang=fr")
    phone.get_by_label("Numéro de dossier").fill(CASE_ID)
    phone.get_by_label("Code d'accès").fill(ACCESS_CODE)
    phone.get_by_role("button", name="Consulter").click()
    assert (
        "vendredi 27 novembre 2026, 23\u00a0h\u00a059\u00a0min\u00a059\u00a0s HNE"
        in phone.locator("#effective-deadline").inner_text()
    )
    assert "Prolongation du délai" in phone.locator("#letters").inner_text()
    assert texts("fr")["rule_deadline_day"] in phone.locator("main").inner_text()
    audit(phone, "fr")

    phone.goto(f"{served}/case?lang=en")
    phone.get_by_label("Case number").fill(CASE_ID)
    phone.get_by_label("Access code").fill("WRONG-CODE-1")
    with phone.expect_response(re.compile(r"/case\?lang=en$")) as sent:
        phone.get_by_role("button", name="Look up").click()
    assert sent.value.status == 404
    assert phone.get_by_role("alert").inner_text() == f"Error: {ENGLISH['case_not_found']}"
    assert phone.get_by_label("Access code").get_attribute("aria-invalid") == "true"
    assert phone.get_by_label("Access code").input_value() == ""  # never sent back
    audit(phone, "en")


@pytest.mark.timeout(120)
def test_a_paper_filing_request_with_nothing_recorded_shows_what_the_checks_saw(
    phone: Page, served: str, runtime: Runtime, tmp_path: Path
) -> None:
    attempt = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)  # Saturday 10:30 EST: no outage then
    record_checks(runtime, attempt)

    phone.goto(f"{served}/paper-filing?lang=fr")
    audit(phone, "fr")
    phone.get_by_label("Service du portail que vous avez tenté d'utiliser").select_option("pr-portal")
    phone.get_by_label("Date et heure").fill("2026-11-21T11:30")
    phone.get_by_label("Fuseau horaire").select_option("America/Halifax")  # 11:30 AST is 10:30 EST
    phone.get_by_label("Nom de votre organisation").fill("Acme Staffing Ltd.")
    phone.get_by_label("Adresse courriel").fill("rh@acme.example")
    phone.get_by_label("Français", exact=True).check()
    with phone.expect_response(re.compile(r"/paper-filing\?lang=fr$")) as sent:
        phone.get_by_role("button", name="Envoyer la demande").click()

    assert sent.value.status == 200
    assert phone.locator("#verdict").inner_text().startswith("Rien d'enregistré.")
    answer = phone.locator("#answer").inner_text()
    assert "samedi 21 novembre 2026, 10\u00a0h\u00a030 HNE" in answer
    assert "Permanent residence portal" in answer
    table = phone.locator("#availability")
    assert table.locator("tbody tr").count() == 2
    toronto = table.locator("tbody tr", has_text="toronto").locator("td").all_inner_texts()
    assert toronto[:3] == ["13", "12", "1"]  # checks, succeeded, failed
    assert table.locator("tfoot td").all_inner_texts()[:3] == ["26", "25", "1"]
    audit(phone, "fr")
    phone.screenshot(path=str(tmp_path / "paper-filing-fr.png"), full_page=True)

    # A time in the future is refused beside its field, with the other answers kept.
    phone.goto(f"{served}/paper-filing?lang=en")
    phone.get_by_label("Portal service you tried to use").select_option("employer-portal")
    phone.get_by_label("Date and time").fill("2026-12-01T09:00")
    phone.get_by_label("Name of your organization").fill("Acme Staffing Ltd.")
    phone.get_by_label("Email address").fill("hr@acme.example")
    with phone.expect_response(re.compile(r"/paper-filing\?lang=en$")) as refused:
        phone.get_by_role("button", name="Send the request").click()
    assert refused.value.status == 422
    when_field = phone.get_by_label("Date and time")
    assert when_field.get_attribute("aria-invalid") == "true"
    assert phone.get_by_role("alert").inner_text() == f"Error: {ENGLISH['error_attempted_at']}"
    assert phone.get_by_label("Name of your organization").input_value() == "Acme Staffing Ltd."
    audit(phone, "en")
