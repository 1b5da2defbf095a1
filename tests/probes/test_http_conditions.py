"""What an http probe asks of an answer beyond its status, judged alike by the sync and the asyncio runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from probes.http import HttpProbeSpec
from probes.result import CheckResult, ErrorClass
from tests.probes.loopback import Runner, serve, with_tls
from tests.probes.loopback import http_spec as spec
from tests.probes.test_http import SIGN_IN_PAGE, Portal
from tests.probes.test_http_aio import AioPortal, AioPortalHandler

pytestmark = pytest.mark.timeout(20)

ACCESS_DENIED_PAGE = "<html><body><h1>Access denied</h1><p>Your request was blocked.</p></body></html>"
HEALTHY = {"status": "ok", "version": 3, "maintenance": False, "checks": [{"name": "db", "up": True}]}
DEGRADED = {**HEALTHY, "status": "degraded"}


class ConditionsHandler(AioPortalHandler):
    def do_GET(self) -> None:
        if self.path == "/access-denied":
            # The error page some gateways serve with a 200, which a status check alone takes for "up".
            self.record()
            self.answer(200, ACCESS_DENIED_PAGE)
        elif self.path in ("/health", "/health-degraded"):
            self.record()
            document = HEALTHY if self.path == "/health" else DEGRADED
            self.answer(200, json.dumps(document), content_type="application/json")
        elif self.path == "/health-one":
            self.record()
            self.answer(200, '{"status": 1}', content_type="application/json")
        elif self.path == "/with-headers":
            self.record()
            self.answer(200, SIGN_IN_PAGE, {"X-Portal-State": "up", "Cache-Control": "no-store, private"})
        else:
            super().do_GET()


class ConditionsPortal(AioPortal):
    handler_class = ConditionsHandler


@pytest.fixture
def portal() -> Iterator[Portal]:
    with serve(ConditionsPortal()) as server:
        yield server


@pytest.fixture
def tls_portal(tmp_path: Path) -> Iterator[Portal]:
    """The portal behind TLS with a self-signed certificate, which verification refuses."""
    with serve(with_tls(ConditionsPortal(), tmp_path)) as server:
        yield server


def assert_assertion(result: CheckResult, error: str) -> None:
    assert result.error_class is ErrorClass.ASSERTION, result.error
    assert result.error == error
    assert result.status_code == 200


# --- body_not_contains ----------------------------------------------------------------------------


def test_an_error_page_served_with_200_is_an_assertion_failure(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/access-denied"), body_not_contains=["Service unavailable", "Access denied"]))

    assert_assertion(result, "body contains 'Access denied'")
    assert "Your request was blocked." in result.evidence  # the page served is kept as proof


def test_a_page_free_of_the_unwanted_texts_passes(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/ok"), body_not_contains="Access denied"))

    assert result.ok, result.error


# --- body_regex -----------------------------------------------------------------------------------


def test_a_body_matching_the_regex_passes(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/ok"), body_regex=r"<title>Citizen\s+portal</title>"))

    assert result.ok, result.error


def test_a_body_not_matching_the_regex_is_an_assertion_failure(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/ok"), body_regex=r"Welcome back, \w+"))

    assert_assertion(result, r"body does not match /Welcome back, \w+/")


# --- json -----------------------------------------------------------------------------------------


def test_json_values_equal_to_the_expected_ones_pass(portal: Portal, run: Runner) -> None:
    conditions = [
        {"path": "status", "equals": "ok"},
        {"path": "version", "equals": 3.0},  # JSON numbers: 3 and 3.0 are the same value
        {"path": "checks[?name=='db'].up | [0]", "equals": True},
        {"path": "checks[0]", "equals": {"name": "db", "up": True}},
        {"path": "missing", "equals": None},
    ]
    result = run(spec(portal.url("/health"), json=conditions))

    assert result.ok, result.error


def test_a_json_value_that_differs_is_an_assertion_failure_naming_the_expression(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/health-degraded"), json={"path": "status", "equals": "ok"}))

    assert_assertion(result, "json status: expected 'ok', got 'degraded'")
    assert '"status": "degraded"' in result.evidence


def test_json_true_is_not_the_number_one(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/health-one"), json={"path": "status", "equals": True}))

    assert_assertion(result, "json status: expected true, got 1")


def test_a_body_that_is_not_json_is_an_assertion_failure(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/ok"), json=[{"path": "status", "equals": "ok"}]))

    assert_assertion(result, "body is not JSON: Expecting value: line 1 column 1 (char 0)")


def test_a_json_function_failing_on_the_body_is_an_assertion_failure(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/health"), json={"path": "abs(status)", "equals": 1}))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error is not None
    assert result.error.startswith("json abs(status): cannot be evaluated on this body: ")


# --- expect_headers -------------------------------------------------------------------------------


def test_expected_headers_present_with_their_values_pass(portal: Portal, run: Runner) -> None:
    expected = {"x-portal-state": "up", "Cache-Control": "/no-store/", "Content-Type": "/^text/html;/"}
    result = run(spec(portal.url("/with-headers"), expect_headers=expected))

    assert result.ok, result.error


def test_a_missing_header_is_an_assertion_failure_naming_it(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/ok"), expect_headers={"X-Portal-State": "up"}))

    assert_assertion(result, "header X-Portal-State is missing")


def test_a_header_with_another_value_is_an_assertion_failure(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/with-headers"), expect_headers={"X-Portal-State": "maintenance"}))

    assert_assertion(result, "header X-Portal-State: expected 'maintenance', got 'up'")


def test_a_header_not_matching_its_regex_is_an_assertion_failure(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/with-headers"), expect_headers={"Cache-Control": "/max-age=\\d+/"}))

    assert_assertion(result, "header Cache-Control: expected a match for /max-age=\\d+/, got 'no-store, private'")


# --- follow_redirects -----------------------------------------------------------------------------


def test_a_redirect_not_followed_is_the_answer_judged(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/redirect"), follow_redirects=False, expect_status=[302]))

    assert result.ok, result.error
    assert result.status_code == 302
    assert "location: /ok" in result.evidence
    assert "redirect(s)" not in result.evidence
    assert [request.path for request in portal.received] == ["/redirect"]


def test_a_redirect_not_followed_fails_a_probe_expecting_200(portal: Portal, run: Runner) -> None:
    result = run(spec(portal.url("/redirect"), follow_redirects=False))

    assert result.error_class is ErrorClass.STATUS
    assert result.error == "expected status 200, got 302"


# --- verify_tls -----------------------------------------------------------------------------------


def test_a_self_signed_certificate_is_refused_by_default(tls_portal: Portal, run: Runner) -> None:
    result = run(spec(tls_portal.url("/ok")))

    assert result.error_class is ErrorClass.TLS
    assert "TLS verification: off" not in result.evidence
    assert tls_portal.received == []


def test_a_self_signed_certificate_is_accepted_with_verification_off(tls_portal: Portal, run: Runner) -> None:
    result = run(spec(tls_portal.url("/ok"), verify_tls=False, body_contains="Sign in"))

    assert result.ok, result.error
    assert result.status_code == 200
    assert result.evidence.splitlines()[2] == "TLS verification: off"


# --- the spec -------------------------------------------------------------------------------------


def _problems(**fields: Any) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        spec("https://portal.example/", **fields)
    return [(error["loc"], error["msg"]) for error in caught.value.errors()]


def test_a_bad_regex_is_a_validation_error_naming_the_field() -> None:
    assert _problems(body_regex="Sign (in") == [
        (
            ("body_regex",),
            "Value error, is not a valid regular expression (missing ), unterminated subpattern at position 5): "
            "'Sign (in'",
        )
    ]


def test_a_bad_jmespath_is_a_validation_error_naming_the_field() -> None:
    [(loc, message)] = _problems(json=[{"path": "status", "equals": "ok"}, {"path": "checks[", "equals": 1}])

    assert loc == ("json", 1, "path")
    assert message.startswith("Value error, is not a valid JMESPath expression (")
    assert message.endswith("): 'checks['")


def test_a_bad_header_regex_is_a_validation_error_naming_the_header() -> None:
    [(loc, message)] = _problems(expect_headers={"Content-Type": "/text/(html/"})

    assert loc == ("expect_headers", "Content-Type")
    assert "is not a valid regular expression" in message


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"json": {"path": "status"}}, ("json", 0, "equals")),
        ({"json": {"path": "status", "equals": "ok", "is": "ok"}}, ("json", 0, "is")),
        ({"json": {"path": "status", "equals": float("nan")}}, ("json", 0, "equals")),
        ({"body_not_contains": ["Access denied", ""]}, ("body_not_contains",)),
        ({"expect_headers": {"X-State: up": "up"}}, ("expect_headers",)),
        ({"verify_tls": "maybe"}, ("verify_tls",)),
    ],
)
def test_other_unusable_conditions_are_validation_errors_naming_the_key(
    fields: dict[str, Any], loc: tuple[int | str, ...]
) -> None:
    assert [problem_loc for problem_loc, _ in _problems(**fields)] == [loc]


def test_single_values_are_accepted_where_lists_are_and_the_stored_form_parses_back() -> None:
    probe = spec(
        "https://portal.example/",
        body_not_contains="Access denied",
        json={"path": "status", "equals": "ok"},
        body_regex="Sign in",
        expect_headers={"Content-Type": "/html/"},
    )
    stored = probe.model_dump(mode="json")

    assert stored["body_not_contains"] == ["Access denied"]
    assert stored["json"] == [{"path": "status", "equals": "ok"}]
    assert HttpProbeSpec.model_validate(stored) == probe
    assert probe.follow_redirects and probe.verify_tls


def test_a_copy_with_another_regex_judges_by_the_new_one() -> None:
    probe = spec("https://portal.example/", body_regex="Sign in")
    assert probe.body_pattern is not None  # compiled, and kept on this spec

    changed = probe.model_copy(update={"body_regex": "Welcome"})

    assert changed.body_pattern is not None and changed.body_pattern.pattern == "Welcome"


_REGEX_TEXT = st.text(alphabet=st.sampled_from("()[]{}*+?|\\^$.,-:=!<>0123456789aPw"), max_size=40)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
_JMESPATH_TEXT = st.text(alphabet=st.sampled_from("abc.[]{}()*?@&|!=<>'`\"$:,0123 -"), max_size=30)
_CONDITION = st.dictionaries(
    st.sampled_from(["path", "equals", "value"]),
    _JMESPATH_TEXT | _JSON_VALUES,
    max_size=3,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conditions=st.one_of(st.lists(_CONDITION, max_size=4), _CONDITION, _JSON_VALUES),
    regex=_REGEX_TEXT | st.integers(1, 3000).map(lambda depth: "(" * depth),
    path=_JMESPATH_TEXT | st.integers(1, 3000).map(lambda depth: "(" * depth + "a"),
)
def test_any_conditions_either_validate_or_are_refused_as_a_validation_error(
    conditions: Any, regex: str, path: str
) -> None:
    fields = {"id": "portal-login", "url": "https://portal.example/"}
    for extra in ({"json": conditions}, {"body_regex": regex}, {"json": {"path": path, "equals": 1}}):
        try:
            probe = HttpProbeSpec.model_validate({**fields, **extra})
        except ValidationError:
            continue
        # What validated is usable: compiled without error, and stored in a form that parses back.
        assert probe.body_pattern is None or probe.body_pattern.pattern == probe.body_regex
        for condition in probe.json_conditions:
            assert condition.expression is not None
        assert HttpProbeSpec.model_validate(probe.model_dump(mode="json")) == probe


def test_a_pattern_whose_meaning_python_says_will_change_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="body_regex"):
        HttpProbeSpec(id="pr-home", url="http://127.0.0.1:9/", body_regex="[[")
