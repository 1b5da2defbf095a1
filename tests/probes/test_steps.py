"""The `steps` probe against a small document portal on 127.0.0.1: sign in, upload, read back, delete."""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from probes.http.aio import new_session
from probes.result import EVIDENCE_LIMIT, CheckResult, ErrorClass
from probes.steps import StepsProbeSpec, run_steps_async, run_steps_probe
from probes.steps.runner import REDACTED, _Secrets, upload_bytes
from tests.probes.loopback import LOCATION, LoopbackHandler, LoopbackServer, serve
from tests.probes.loopback import run_steps as check

pytestmark = pytest.mark.timeout(30)

CSRF = "csrf-7f3a9c"
SESSION = "session-b41d"
PASSWORD_ENV = "PORTALWATCH_TEST_STEPS_PASSWORD"
# Characters that every encoding changes, so an echo in any of them would show if it slipped through.
PASSWORD = "s3cr3t&p@ss wörd/<x>"
MAX_UPLOAD = 2 * 1024 * 1024
JSON = "application/json; charset=utf-8"
SIGN_IN_PAGE = f'<html><form method="post"><input type="hidden" name="csrf" value="{CSRF}"></form></html>'


@dataclass
class PortalState:
    refuse_sign_in: bool = False
    lose_documents: bool = False
    documents: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class PortalHandler(LoopbackHandler):
    server: Portal
    protocol_version = "HTTP/1.1"  # keep-alive, as a real portal: the pool reuses connections

    def _signed_in(self) -> bool:
        return f"session={SESSION}" in self.headers.get("Cookie", "")

    def _record(self) -> None:
        with self.server.lock:
            self.server.state.requests.append(f"{self.command} {self.path}")

    def do_GET(self) -> None:
        self._record()
        state = self.server.state
        if self.path.split("?")[0] == "/home":
            self.answer(200, "<h1>Citizen portal</h1>")
        elif self.path == "/sign-in":
            self.answer(200, SIGN_IN_PAGE)
        elif self.path == "/stall":
            time.sleep(1.5)
            self.answer(200, "too late")
        elif self.path.startswith("/documents/"):
            doc = self.path.removeprefix("/documents/")
            if not self._signed_in():
                self.answer(401, "sign in first")
            elif doc in state.documents and not state.lose_documents:
                self.answer(200, json.dumps({"id": doc, "size": state.documents[doc]}), content_type=JSON)
            else:
                self.answer(404, "no such document")
        else:
            self.answer(404, "not found")

    def do_POST(self) -> None:
        self._record()
        body = self.read_body()  # read in full even when refusing it, so the answer is what the client sees
        state = self.server.state
        if self.path == "/sign-in":
            form = {key: values[0] for key, values in parse_qs(body.decode("utf-8")).items()}
            good = form.get("user") == "probe" and form.get("password") == PASSWORD and form.get("csrf") == CSRF
            if good and not state.refuse_sign_in:
                self.answer(302, "", {"Location": "/home", "Set-Cookie": f"session={SESSION}; Path=/; HttpOnly"})
            else:
                # A careless portal echoes what it was sent, in every form a probe could see it.
                echo = f"{body.decode('utf-8')} {form.get('password', '')} {html.escape(form.get('password', ''))}"
                self.answer(403, f"<h1>Access denied</h1><pre>{echo}</pre>")
        elif self.path == "/documents":
            if not self._signed_in():
                self.answer(401, "sign in first")
            elif len(body) > MAX_UPLOAD:
                self.answer(413, "file too large")
            elif b'filename="probe.pdf"' not in body or not body.count(b"%PDF-1.4"):
                self.answer(400, "no file")
            else:
                with self.server.lock:
                    doc = f"doc-{len(state.documents) + 1}"
                    state.documents[doc] = len(body)
                self.answer(201, json.dumps({"id": doc}), content_type=JSON)
        else:
            self.answer(404, "not found")

    def do_DELETE(self) -> None:
        self._record()
        doc = self.path.removeprefix("/documents/")
        with self.server.lock:
            self.server.state.deleted.append(doc)
            self.server.state.documents.pop(doc, None)
        self.answer(200, "deleted")


class Portal(LoopbackServer):
    handler_class = PortalHandler
    # Checks run one after another, but each connection the pool opens waits in the backlog first.
    request_queue_size = 64

    def __init__(self) -> None:
        super().__init__()
        self.state = PortalState()


@pytest.fixture
def portal() -> Iterator[Portal]:
    with serve(Portal()) as server:
        yield server


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD


def transaction(portal: Portal, *, size: str = "1MB", timeout: str = "10s", **extra: Any) -> StepsProbeSpec:
    """The issue's transaction: sign in, upload, read the document back, delete it whatever happened."""
    return StepsProbeSpec.model_validate(
        {
            "id": "rep-sign-in-upload",
            "type": "steps",
            "timeout": timeout,
            "impact": "partial_outage",
            "steps": [
                {"name": "home", "url": portal.url("/home"), "body_contains": "Citizen portal"},
                {
                    "name": "sign-in page",
                    "url": portal.url("/sign-in"),
                    "extract": {"csrf": {"regex": 'name="csrf" value="([^"]+)"'}},
                },
                {
                    "name": "sign in",
                    "method": "POST",
                    "url": portal.url("/sign-in"),
                    "form": {"user": "probe", "password": f"${{env:{PASSWORD_ENV}}}", "csrf": "${csrf}"},
                    "expect_status": [200, 302],
                    "body_not_contains": "Access denied",
                },
                {
                    "name": "upload",
                    "method": "POST",
                    "url": portal.url("/documents"),
                    "upload": {
                        "field": "file",
                        "filename": "probe.pdf",
                        "size": size,
                        "content_type": "application/pdf",
                    },
                    "expect_status": [201],
                    "extract": {"doc": {"json": "$.id"}},
                },
                {"name": "read back", "url": portal.url("/documents/${doc}"), "expect_status": [200]},
                {"name": "delete", "method": "DELETE", "url": portal.url("/documents/${doc}"), "always": True},
            ],
            **extra,
        }
    )


# --- runs ---------------------------------------------------------------------------------------------


def test_the_whole_transaction_passes(portal: Portal, password: str) -> None:
    result = check(transaction(portal))

    assert result.ok, result.error
    assert (result.error_class, result.error, result.status_code) == (None, None, 200)
    assert result.latency_ms is not None and result.latency_ms > 0
    assert "failed step:" not in result.evidence
    assert result.evidence.startswith(f"probed from: {LOCATION}")
    for index, name in enumerate(["home", "sign-in page", "sign in", "upload", "read back", "delete"], start=1):
        assert f"== step {index} {name!r}" in result.evidence
    assert "cookies set: session" in result.evidence
    assert SESSION not in result.evidence  # cookie values sign people in
    assert portal.state.deleted == ["doc-1"]
    assert portal.state.documents == {}
    assert len(result.evidence) <= EVIDENCE_LIMIT


def test_the_sync_runner_brings_its_own_loop_and_session(portal: Portal, password: str) -> None:
    result = run_steps_probe(transaction(portal), LOCATION)

    assert result.ok, result.error
    assert portal.state.deleted == ["doc-1"]


def test_a_refused_sign_in_names_the_step_while_the_home_page_works(portal: Portal, password: str) -> None:
    portal.state.refuse_sign_in = True

    result = check(transaction(portal))

    assert not result.ok
    assert result.error_class is ErrorClass.STATUS
    assert result.error == "step 'sign in': expected status 200 or 302, got 403"
    assert result.status_code == 403
    assert result.evidence.splitlines()[0] == "failed step: sign in"
    assert "== step 1 'home': passed, HTTP 200" in result.evidence
    assert "== step 3 'sign in': FAILED, HTTP 403: expected status 200 or 302, got 403" in result.evidence
    assert "== step 4 'upload': skipped: an earlier step failed" in result.evidence
    # The cleanup step has nothing to delete: the upload never ran, so there is no ${doc}.
    assert "== step 6 'delete' (always): not run: ${doc} has no value" in result.evidence
    assert not any(line.startswith(("POST /documents", "DELETE")) for line in portal.state.requests)


def test_access_denied_in_an_accepted_answer_is_an_assertion(portal: Portal, password: str) -> None:
    spec = transaction(portal)
    sign_in = spec.steps[2].model_copy(update={"expect_status": [200, 302, 403]})
    portal.state.refuse_sign_in = True
    result = check(spec.model_copy(update={"steps": [*spec.steps[:2], sign_in]}))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "step 'sign in': body contains 'Access denied'"


def test_an_upload_over_the_portal_limit_is_refused_while_a_small_one_passes(portal: Portal, password: str) -> None:
    small = check(transaction(portal, size="1MB"))
    large = check(transaction(portal, size="3MB"))

    assert small.ok, small.error
    assert not large.ok
    assert large.error_class is ErrorClass.STATUS
    assert large.error == "step 'upload': expected status 201, got 413"
    assert large.evidence.splitlines()[0] == "failed step: upload"
    assert "upload: file=probe.pdf, 3000000 bytes of application/pdf" in large.evidence
    assert portal.state.deleted == ["doc-1"]  # the small one's; the large one created nothing to delete


def test_the_always_step_runs_after_a_failure(portal: Portal, password: str) -> None:
    portal.state.lose_documents = True

    result = check(transaction(portal))

    assert result.error == "step 'read back': expected status 200, got 404"
    assert result.status_code == 404
    assert portal.state.deleted == ["doc-1"]
    assert "== step 6 'delete' (always): passed, HTTP 200" in result.evidence
    assert result.evidence.splitlines()[0] == "failed step: read back"


def test_a_failing_always_step_does_not_replace_the_first_failure(portal: Portal, password: str) -> None:
    spec = transaction(portal)
    delete = spec.steps[5].model_copy(update={"expect_status": [204]})
    portal.state.lose_documents = True

    result = check(spec.model_copy(update={"steps": [*spec.steps[:5], delete]}))

    assert result.error == "step 'read back': expected status 200, got 404"
    assert (
        "== step 6 'delete' (always): failed (not counted), HTTP 200: expected status 204, got 200" in result.evidence
    )


def test_a_missing_environment_variable_fails_the_step_without_sending_it(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)

    result = check(transaction(portal))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == f"step 'sign in': environment variable {PASSWORD_ENV} is not set"
    assert result.status_code is None and result.latency_ms is None
    assert "POST /sign-in" not in portal.state.requests


def test_the_password_never_appears_in_the_result(portal: Portal, password: str) -> None:
    portal.state.refuse_sign_in = True
    spec = transaction(portal)
    # The secret in a query string and a header too, and a server that echoes it back in the page.
    home = spec.steps[0].model_copy(
        update={
            "url": portal.url(f"/home?key=${{env:{PASSWORD_ENV}}}"),
            "headers": {"X-Key": f"${{env:{PASSWORD_ENV}}}"},
        }
    )

    result = check(spec.model_copy(update={"steps": [home, *spec.steps[1:]]}))

    assert result.error == "step 'sign in': expected status 200 or 302, got 403"
    assert REDACTED in result.evidence
    assert "request headers: X-Key" in result.evidence
    whole = repr(result) + result.evidence + (result.error or "")
    for form in (password, quote(password, safe=""), quote_plus(password), html.escape(password), "s3cr3t"):
        assert form not in whole


def test_the_deadline_cuts_a_stalled_step(portal: Portal, password: str) -> None:
    spec = StepsProbeSpec.model_validate(
        {
            "id": "stalls",
            "type": "steps",
            "timeout": "500ms",
            "steps": [
                {"name": "home", "url": portal.url("/home")},
                {"name": "stall", "url": portal.url("/stall")},
                {"name": "after", "url": portal.url("/home")},
                {"name": "cleanup", "url": portal.url("/home"), "always": True},
            ],
        }
    )
    start = time.perf_counter()

    result = check(spec)

    assert time.perf_counter() - start < 1.2
    assert result.error_class is ErrorClass.TIMEOUT
    host, port = portal.server_address[:2]
    assert result.error == f"step 'stall': no response from {host!s}:{port} within the check's 500 ms deadline"
    assert result.status_code is None and result.latency_ms is None
    assert "== step 3 'after': skipped" in result.evidence
    assert "== step 4 'cleanup' (always): not run: the check's deadline had passed" in result.evidence


def test_each_check_has_its_own_cookie_jar_on_the_shared_pool(portal: Portal, password: str) -> None:
    upload_only = StepsProbeSpec.model_validate(
        {
            "id": "upload-only",
            "type": "steps",
            "steps": [{"name": "list", "url": portal.url("/documents/doc-1")}],
        }
    )

    async def main() -> tuple[CheckResult, CheckResult, bool]:
        async with new_session() as session:
            signed_in = await run_steps_async(transaction(portal), LOCATION, session=session)
            stranger = await run_steps_async(upload_only, LOCATION, session=session)
            return signed_in, stranger, session.closed or session.connector is None or session.connector.closed

    signed_in, stranger, closed = asyncio.run(main())

    assert signed_in.ok, signed_in.error
    assert stranger.error == "step 'list': expected status 200, got 401"  # no cookie from the other check
    assert not closed  # the engine's session and pool outlive each check


def test_the_failing_block_is_kept_when_the_evidence_is_too_long(portal: Portal, password: str) -> None:
    steps: list[dict[str, Any]] = [{"name": f"page {n}", "url": portal.url("/sign-in")} for n in range(20)]
    steps.append({"name": "missing", "url": portal.url("/nowhere")})
    result = check(StepsProbeSpec.model_validate({"id": "long", "type": "steps", "steps": steps}))

    assert len(result.evidence) <= EVIDENCE_LIMIT
    assert result.evidence.splitlines()[0] == "failed step: missing"
    assert "== step 21 'missing': FAILED, HTTP 404" in result.evidence
    assert "not found" in result.evidence
    assert "== step 1 'page 0': passed, HTTP 200" in result.evidence


# --- pieces -------------------------------------------------------------------------------------------


def test_secrets_are_redacted_in_every_encoding_and_never_left_half_cut() -> None:
    secrets = _Secrets()
    secrets.add("p@ss word")

    text = "a p@ss word b p%40ss+word c p%40ss%20word d P%40SS%20WORD"
    assert secrets.redact(text) == f"a {REDACTED} b {REDACTED} c {REDACTED} d {REDACTED}"
    assert secrets.trim_partial("page ends in p@ss w") == "page ends in "
    assert secrets.trim_partial("nothing secret") == "nothing secret"


def test_uploads_are_generated_once_and_look_like_their_type() -> None:
    pdf = upload_bytes(1000, "application/pdf")

    assert len(pdf) == 1000
    assert pdf.startswith(b"%PDF-") and pdf.endswith(b"%%EOF\n")
    assert upload_bytes(1000, "application/pdf") is pdf
    assert len(upload_bytes(3, "application/pdf")) == 3


# --- validation ---------------------------------------------------------------------------------------


def spec_with(*steps: dict[str, Any]) -> StepsProbeSpec:
    return StepsProbeSpec.model_validate({"id": "v", "type": "steps", "steps": list(steps)})


def test_the_issue_example_validates_and_round_trips() -> None:
    spec = spec_with(
        {"name": "a", "url": "https://portal.test/a", "extract": {"doc": {"json": "$.id"}, "t": {"header": "X-T"}}},
        {"name": "b", "method": "post", "url": "https://portal.test/${doc}", "json": {"k": "${t}"}},
        {"name": "c", "url": "https://portal.test/", "upload": {"field": "f", "filename": "x", "size": "512KB"}},
    )

    assert spec.impact == "major_outage"
    assert spec.steps[0].extract["doc"].json_path == "id"
    assert spec.steps[1].method == "POST"
    assert spec.steps[2].upload is not None and spec.steps[2].upload.size == 512_000
    stored = spec.model_dump(mode="json")
    assert stored["steps"][1]["json"] == {"k": "${t}"}
    assert StepsProbeSpec.model_validate(stored) == spec


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "a", "url": "https://p.test/${doc}"}], "step 'a' uses ${doc}, which no earlier step extracts"),
        (
            [
                {"name": "a", "url": "https://p.test/${doc}"},
                {"name": "b", "url": "https://p.test/", "extract": {"doc": {"json": "id"}}},
            ],
            "step 'a' uses ${doc}, which no earlier step extracts",
        ),
        (
            [{"name": "a", "url": "https://p.test/", "form": {"x": "${doc}"}, "extract": {"doc": {"json": "id"}}}],
            "step 'a' uses ${doc}, which it extracts itself",
        ),
        ([{"name": "a", "url": "https://p.test/"}, {"name": "a", "url": "https://p.test/"}], "two steps are named 'a'"),
        ([{"name": "a", "url": "https://p.test/", "extract": {"x": {"regex": "(unclosed"}}}], "not a valid regular"),
        ([{"name": "a", "url": "https://p.test/", "extract": {"x": {"regex": "no group"}}}], "exactly one"),
        ([{"name": "a", "url": "https://p.test/", "extract": {"x": {"json": "items[?"}}}], "not a valid JMESPath"),
        ([{"name": "a", "url": "https://p.test/", "extract": {"x": {}}}], "exactly one of regex, json or header"),
        ([{"name": "a", "url": "https://p.test/", "form": {"a": "b"}, "body": "raw"}], "has form and body"),
        ([{"name": "a", "url": "https://p.test/", "json": {"a": 1}, "body": "raw"}], "has json and body"),
        (
            [
                {
                    "name": "a",
                    "url": "https://p.test/",
                    "body": "x",
                    "upload": {"field": "f", "filename": "x", "size": 1},
                }
            ],
            "upload",
        ),
        ([{"name": "a", "url": "https://p.test/${env:}"}], "does not name an environment variable"),
        ([{"name": "a", "url": "https://p.test/${a b}"}], "neither"),
        ([{"name": "a", "url": "ftp://p.test/"}], "http:// or https://"),
        ([{"name": "a", "url": "https://p.test/", "upload": {"field": "f", "filename": "x", "size": "1TB"}}], "size"),
        ([], "at least 1"),
    ],
)
def test_validation_errors(steps: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("$", r"\$").replace("(", r"\(").replace("?", r"\?")):
        spec_with(*steps)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_TEMPLATE = st.sampled_from(
    ["https://p.test/", "https://p.test/${x}", "${env:HOME}", "http://p.test/${", "x"]
) | st.text(max_size=30)
_KEYS = [
    "name",
    "method",
    "url",
    "headers",
    "form",
    "json",
    "body",
    "upload",
    "expect_status",
    "body_contains",
    "body_not_contains",
    "max_latency",
    "follow_redirects",
    "extract",
    "always",
]
_VALUE = (
    _JSON
    | _TEMPLATE
    | st.dictionaries(st.sampled_from(["regex", "json", "header", "x"]), st.text(max_size=12) | _JSON, max_size=2)
    | st.dictionaries(
        st.text(max_size=4),
        st.dictionaries(st.sampled_from(["regex", "json", "header"]), st.text(max_size=12), max_size=2),
        max_size=2,
    )
    | st.fixed_dictionaries({"field": st.text(max_size=3), "filename": st.text(max_size=3), "size": _JSON | _TEMPLATE})
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), _VALUE, max_size=8), max_size=3))
def test_arbitrary_steps_validate_or_raise_a_validation_error(steps: list[dict[str, Any]]) -> None:
    try:
        spec = spec_with(*steps)
    except ValidationError:
        return
    assert StepsProbeSpec.model_validate(spec.model_dump(mode="json")) == spec
