"""`${env:NAME}` in an http probe, against a portal on 127.0.0.1 that echoes back everything it is sent.

The value is sent where the spec puts it (a header, the URL's query, the body) and never comes back in
the result, in whatever form the portal or the HTTP library returns it: both runners, sync and asyncio.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
from pydantic import ValidationError

from probes import parse_spec
from probes.http import HttpProbeSpec
from probes.result import EVIDENCE_LIMIT, CheckResult, ErrorClass
from probes.secrets import REDACTED
from tests.probes import loopback
from tests.probes.loopback import LoopbackHandler, LoopbackServer, Runner, serve

pytestmark = pytest.mark.timeout(20)

TOKEN_ENV = "PORTALWATCH_TEST_HTTP_TOKEN"
PASSWORD_ENV = "PORTALWATCH_TEST_HTTP_PASSWORD"
# A header carries ASCII; each character here is changed by some encoding (form, URL, HTML, JSON, repr).
TOKEN = "Zq9+tok/en=&<'\">\\x"
# Non-ASCII too, and the characters that end a query value or a URL.
PASSWORD = "s3cr3t&p@ss wörd/<x>#?"


def forms(secret: str) -> set[str]:
    """The secret as a server, a library or an error line may show it, and its recognisable start."""
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        secret[:4],
    }


def assert_no_secret(result: CheckResult) -> None:
    shown = "\n".join([repr(result), result.evidence, result.error or ""])
    for secret in (TOKEN, PASSWORD):
        for form in forms(secret):
            assert form not in shown, f"{form!r} is in the result"


class EchoHandler(LoopbackHandler):
    """A careless portal: it answers with everything it was sent, in every form a page may show it.

    `/echo` answers 403, `/echo-ok` 200; `/redirect` sends the client to `/echo` with the same query;
    `/long-echo` puts the Authorization header in the middle of a long response header; `/straddle`
    puts the query's `key` where the evidence is cut.
    """

    def do_GET(self) -> None:
        self._echo(b"")

    def do_POST(self) -> None:
        self._echo(self.read_body())

    def _echo(self, body: bytes) -> None:
        self.record(body)
        parts = urlsplit(self.path)
        key = parse_qs(parts.query).get("key", [""])[0]
        authorization = self.headers.get("Authorization", "")
        if parts.path == "/redirect":
            self.answer(302, "", {"Location": f"/echo?{parts.query}"})
        elif parts.path == "/long-echo":
            self.answer(200, "ok", {"X-Echo": "a" * 190 + authorization + "b" * 100})
        elif parts.path == "/straddle":
            # The key over and over across both cuts: the body's at EVIDENCE_LIMIT, the evidence's a little before.
            self.answer(403, "x" * (EVIDENCE_LIMIT - 400) + key * 30 + "y" * 100)
        else:
            status = 200 if parts.path == "/echo-ok" else 403
            self.answer(status, self.echo(body, [key]), {"X-Echo": authorization, "Location": self.path})


class Portal(LoopbackServer):
    handler_class = EchoHandler


@pytest.fixture
def portal() -> Iterator[Portal]:
    with serve(Portal()) as server:
        yield server


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def spec(url: str, **fields: Any) -> HttpProbeSpec:
    return loopback.http_spec(url, id="rep-api", **fields)


def signed(portal: Portal, path: str, **fields: Any) -> HttpProbeSpec:
    """A POST carrying the token in two headers and the password in the query and the body."""
    return spec(
        portal.url(f"{path}?user=probe&key=${{env:{PASSWORD_ENV}}}"),
        method="POST",
        headers={"Authorization": f"Bearer ${{env:{TOKEN_ENV}}}", "X-Api-Key": f"${{env:{TOKEN_ENV}}}"},
        body=f"user=probe&password=${{env:{PASSWORD_ENV}}}",
        **fields,
    )


# --- sent, and never shown ----------------------------------------------------------------------------


@pytest.mark.usefixtures("secrets")
def test_the_values_are_sent_where_the_spec_puts_them_and_redacted_from_a_failure(portal: Portal, run: Runner) -> None:
    result = run(signed(portal, "/echo"))

    [received] = portal.received
    assert parse_qs(urlsplit(received.path).query) == {"user": ["probe"], "key": [PASSWORD]}
    assert received.headers["Authorization"] == f"Bearer {TOKEN}"
    assert received.headers["X-Api-Key"] == TOKEN
    assert received.body == f"user=probe&password={PASSWORD}".encode()
    assert (result.error_class, result.error, result.status_code) == (
        ErrorClass.STATUS,
        "expected status 200, got 403",
        403,
    )
    first = result.evidence.splitlines()[0]
    assert first == f"POST {portal.url('/echo')}?user=probe&key={REDACTED}"
    assert f"location: /echo?user=probe&key={REDACTED}" in result.evidence
    assert f"Authorization: Bearer {REDACTED}" in result.evidence  # the page's echo, redacted
    assert_no_secret(result)


@pytest.mark.usefixtures("secrets")
def test_a_value_echoed_into_the_error_line_is_redacted(portal: Portal, run: Runner) -> None:
    result = run(signed(portal, "/echo-ok", expect_headers={"X-Echo": "/^never$/"}))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == f"header X-Echo: expected a match for /^never$/, got 'Bearer {REDACTED}'"
    assert_no_secret(result)


@pytest.mark.usefixtures("secrets")
def test_a_value_cut_short_in_the_error_line_leaves_none_of_itself_behind(portal: Portal, run: Runner) -> None:
    result = run(signed(portal, "/long-echo", expect_headers={"X-Echo": "exactly this"}))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error is not None and result.error.endswith("…'")
    assert "Bearer Zq" not in result.error
    assert_no_secret(result)


@pytest.mark.usefixtures("secrets")
def test_a_redirect_carrying_the_value_is_redacted_in_the_evidence(portal: Portal, run: Runner) -> None:
    followed = run(spec(portal.url(f"/redirect?key=${{env:{PASSWORD_ENV}}}")))
    kept = run(spec(portal.url(f"/redirect?key=${{env:{PASSWORD_ENV}}}"), follow_redirects=False))

    assert followed.status_code == 403
    assert f"after 1 redirect(s): {portal.url('/echo')}?key={REDACTED}" in followed.evidence
    assert kept.status_code == 302
    assert f"location: /echo?key={REDACTED}" in kept.evidence
    assert_no_secret(followed)
    assert_no_secret(kept)


@pytest.mark.usefixtures("secrets")
def test_a_value_where_the_evidence_is_cut_leaves_none_of_itself_behind(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url(f"/straddle?key=${{env:{PASSWORD_ENV}}}")))

    assert result.error_class is ErrorClass.STATUS
    assert len(result.evidence) <= EVIDENCE_LIMIT
    assert_no_secret(result)


@pytest.mark.usefixtures("secrets")
def test_a_probe_without_references_is_sent_as_written(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/echo-ok?key=%24%7Bnot-a-reference%7D"), headers={"X-Plain": "a b"}))

    assert result.ok, result.error
    [received] = portal.received
    assert received.headers["X-Plain"] == "a b"
    assert parse_qs(urlsplit(received.path).query) == {"key": ["${not-a-reference}"]}


# --- a value that cannot be sent ----------------------------------------------------------------------


def test_an_unset_variable_fails_the_check_without_sending_anything(
    portal: Portal, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)

    result = run(signed(portal, "/echo"))

    assert not result.ok
    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == f"environment variable {PASSWORD_ENV} is not set"
    assert result.status_code is None and result.latency_ms is None
    assert result.evidence.splitlines()[-1] == f"not sent: environment variable {PASSWORD_ENV} is not set"
    assert portal.received == []
    assert_no_secret(result)


def test_a_value_no_header_can_carry_fails_the_check_without_sending_it(
    portal: Portal, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN + "\r\nX-Injected: yes")

    result = run(spec(portal.url("/echo-ok"), headers={"Authorization": f"Bearer ${{env:{TOKEN_ENV}}}"}))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "header Authorization: its value holds a line break or NUL, which a header cannot carry"
    assert portal.received == []
    assert_no_secret(result)


def test_the_value_is_read_when_the_check_runs(portal: Portal, run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = spec(portal.url(f"/echo-ok?key=${{env:{PASSWORD_ENV}}}"))
    monkeypatch.setenv(PASSWORD_ENV, "first")
    run(probe)
    monkeypatch.setenv(PASSWORD_ENV, "second")
    run(probe)

    keys = [parse_qs(urlsplit(received.path).query)["key"] for received in portal.received]
    assert keys == [["first"], ["second"]]


# --- the spec -----------------------------------------------------------------------------------------


def test_the_spec_names_the_variables_and_its_stored_form_holds_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    probe = spec(
        f"https://portal.test/api?key=${{env:{PASSWORD_ENV}}}",
        headers={"Authorization": f"Bearer ${{env:{TOKEN_ENV}}}"},
        body=f"${{env:{PASSWORD_ENV}}}",
    )

    assert probe.env_names == (PASSWORD_ENV, TOKEN_ENV)
    stored = json.dumps(probe.model_dump(mode="json"))
    assert TOKEN not in stored and json.dumps(TOKEN)[1:-1] not in stored
    assert PASSWORD not in stored and json.dumps(PASSWORD)[1:-1] not in stored
    assert parse_spec(probe.model_dump(mode="json")) == probe
    moved = probe.model_copy(update={"url": "https://portal.test/api", "headers": {}, "body": None})
    assert moved.env_names == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "https://portal.test/?key=${token}"}, "${token}: an http probe can only use ${env:NAME}"),
        ({"headers": {"X-Key": "${env:1BAD}"}}, "${env:1BAD} does not name an environment variable"),
        ({"body": "a=${env:}"}, "${env:} does not name an environment variable"),
        ({"body": "a=${}"}, "${} is neither ${variable} nor ${env:NAME}"),
        ({"url": "ftp://${env:HOST}/"}, "must be an http:// or https:// URL with a host"),
    ],
)
def test_a_reference_an_http_probe_cannot_fill_is_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        HttpProbeSpec.model_validate({"id": "p", "url": "https://portal.test/", **fields})

    [error] = caught.value.errors()
    assert error["loc"][0] in fields
    assert message in error["msg"]
