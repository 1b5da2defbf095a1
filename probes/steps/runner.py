"""Run a `steps` probe: its requests in order, on a cookie jar of its own, within one deadline.

Each step is judged like an `http` probe (the same wording, classes and evidence, by the same helpers)
and its failure is reported as "step '<name>': <what failed>". After the first failing step only the
steps marked `always` still run, to clean up what the transaction created; their own failures are
shown in the evidence but never decide the result.

The result: `status_code` is the deciding step's (the failing one, or the last one run when every step
passed); `latency_ms` is the whole transaction's, from the first request to the end of that step, and
None when the failing step got no answer. The evidence starts with `failed step: <name>` when a step
failed, so the failing step can be read back without parsing the error line.

Values of `${env:…}` references are secrets: every occurrence, in every encoding a server might echo
them back in, is replaced with `[redacted]` in the error and the evidence.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jmespath
import jmespath.exceptions

from probes.http.runner import (
    CONNECT_TIMEOUT_CAP,
    EVIDENCE_BYTES,
    EVIDENCE_HEADERS,
    SEARCH_BYTES,
    TRUNCATED,
    Failure,
    _bounded,
    _host_port,
    _ms,
    _utc_now,
)
from probes.result import EVIDENCE_LIMIT, FAILED_STEP, CheckResult, ErrorClass, judged
from probes.secrets import ENV_PREFIX, REDACTED, REFERENCE, Secrets, read_environment
from probes.spec import describe_statuses
from probes.steps.spec import Step, StepsProbeSpec

if TYPE_CHECKING:
    import aiohttp

    from probes.http.aio import _Hop

__all__ = ["REDACTED", "run_steps_async", "run_steps_probe", "upload_bytes"]

STEP_EXCERPT = 500  # characters of a passing step's body: enough to recognise the page
REQUEST_EXCERPT = 300  # characters of a request body echoed in the evidence
_FILLER = b"PortalWatch availability probe: generated test content, safe to delete.\n"
# Upload checks on portals often sniff the first bytes; a PDF that does not start like one is refused
# before the upload path is exercised at all.
_PDF_HEAD = b"%PDF-1.4\n%"
_PDF_TAIL = b"\n%%EOF\n"


@functools.lru_cache(maxsize=4)
def upload_bytes(size: int, content_type: str = "application/octet-stream") -> bytes:
    """`size` bytes of fixed filler: the same for every check, made once and kept for the next one."""
    body = (_FILLER * (size // len(_FILLER) + 1))[:size]
    if content_type.lower() == "application/pdf" and size >= len(_PDF_HEAD) + len(_PDF_TAIL):
        body = _PDF_HEAD + body[len(_PDF_HEAD) : size - len(_PDF_TAIL)] + _PDF_TAIL
    return body


def run_steps_probe(spec: StepsProbeSpec, location: str, *, clock: Callable[[], datetime] = _utc_now) -> CheckResult:
    """Run the transaction once on an event loop and connection pool of its own; never raises."""

    async def main() -> CheckResult:
        from probes.http.aio import new_session  # aiohttp only where a check actually runs

        async with new_session() as session:
            return await run_steps_async(spec, location, session=session, clock=clock)

    return asyncio.run(main())


async def run_steps_async(
    spec: StepsProbeSpec,
    location: str,
    *,
    session: aiohttp.ClientSession,
    clock: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Run the transaction once, sharing `session`'s connection pool but none of its cookies."""
    import aiohttp

    connector = session.connector
    if connector is None:
        raise RuntimeError("the shared HTTP session is closed")
    secrets = Secrets()
    env = _environment(spec, secrets)
    loop = asyncio.get_running_loop()
    timeout_s = spec.timeout.total_seconds()
    check = _Check(spec, env, secrets, loop.time() + timeout_s, timeout_s)
    started_at = clock()
    start = time.perf_counter()
    # A jar per check: a session cookie from one check must never sign the next one in. The engine's
    # connector is shared (connector_owner=False leaves it open when this session closes), so steps
    # still reuse the pool's keep-alive connections. unsafe=True: the jar otherwise drops cookies set
    # by a host given as an IP address.
    jar_session = aiohttp.ClientSession(
        connector=connector,
        connector_owner=False,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        headers=session.headers,
        trust_env=session.trust_env,
        auto_decompress=session.auto_decompress,
        timeout=aiohttp.ClientTimeout(),  # the check's own deadline bounds every step
    )
    runs: list[_Run] = []
    deciding: _Run | None = None
    async with jar_session:
        for index, step in enumerate(spec.steps, start=1):
            if deciding is not None and not step.always:
                runs.append(_Run(index, step, "skipped", note="an earlier step failed"))
                continue
            run = await _run_step(check, jar_session, index, step)
            run.finished_ms = (time.perf_counter() - start) * 1000
            runs.append(run)
            if deciding is None and run.failure is not None and not step.always:
                deciding = run
    return _result(spec, location, started_at, runs, deciding, secrets)


# --- secrets ------------------------------------------------------------------------------------------

_Secrets = Secrets  # the name the browser kind imports


def _environment(spec: StepsProbeSpec, secrets: Secrets) -> dict[str, str | None]:
    """Every environment variable the spec names, read once, so all steps see the same values."""
    names = [name for step in spec.steps for name in step.references() if name.startswith(ENV_PREFIX)]
    return read_environment(dict.fromkeys(name[len(ENV_PREFIX) :] for name in names), secrets)


# --- one step ---------------------------------------------------------------------------------------


@dataclass
class _Check:
    spec: StepsProbeSpec
    env: dict[str, str | None]
    secrets: Secrets
    deadline_at: float  # loop time
    timeout_s: float
    variables: dict[str, str] = field(default_factory=dict)
    extracted_by: dict[str, str] = field(default_factory=dict)  # variable -> the step that sets it

    def __post_init__(self) -> None:
        for step in self.spec.steps:
            for name in step.extract:
                self.extracted_by.setdefault(name, step.name)


@dataclass
class _Run:
    """What became of one step: `state` is passed, failed, skipped or not run."""

    index: int
    step: Step
    state: str
    note: str = ""
    failure: Failure | None = None
    lines: list[str] = field(default_factory=list)
    body: str = ""
    status: int | None = None
    finished_ms: float | None = None


class _Unavailable(Exception):
    """A `${…}` this step needs has no value: a missing environment variable, or a skipped extraction."""

    def __init__(self, message: str, *, env: bool) -> None:
        super().__init__(message)
        self.env = env


def _substitute(check: _Check, text: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith(ENV_PREFIX):
            var = name[len(ENV_PREFIX) :]
            env_value = check.env.get(var)
            if env_value is None:
                raise _Unavailable(f"environment variable {var} is not set", env=True)
            return env_value
        if name not in check.variables:
            source = check.extracted_by.get(name, "?")
            raise _Unavailable(f"${{{name}}} has no value: step {source!r} did not extract it", env=False)
        return check.variables[name]

    # One pass: a substituted value is never searched for references itself.
    return REFERENCE.sub(value, text)


def _substitute_json(check: _Check, value: Any) -> Any:
    if isinstance(value, str):
        return _substitute(check, value)
    if isinstance(value, dict):
        return {_substitute(check, str(key)): _substitute_json(check, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute_json(check, item) for item in value]
    return value


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    form: dict[str, str] | None
    json_body: Any
    body: str | None
    body_contains: str | None
    body_not_contains: str | None


def _prepare(check: _Check, step: Step) -> _Request:
    return _Request(
        method=step.method,
        url=_substitute(check, step.url),
        headers={name: _substitute(check, value) for name, value in step.headers.items()},
        form=None if step.form is None else {name: _substitute(check, value) for name, value in step.form.items()},
        json_body=_substitute_json(check, step.json_body),
        body=None if step.body is None else _substitute(check, step.body),
        body_contains=None if step.body_contains is None else _substitute(check, step.body_contains),
        body_not_contains=None if step.body_not_contains is None else _substitute(check, step.body_not_contains),
    )


def _request_lines(step: Step, request: _Request) -> list[str]:
    lines = [f"{request.method} {request.url}"]
    if request.headers:
        # Names only: header values are often credentials written straight into the configuration.
        lines.append(f"request headers: {', '.join(request.headers)}")
    if request.form is not None:
        lines.append(_excerpt("form: " + ", ".join(f"{name}={value}" for name, value in request.form.items())))
    if request.json_body is not None:
        lines.append(_excerpt("json: " + json.dumps(request.json_body, ensure_ascii=False, separators=(",", ":"))))
    if request.body is not None:
        lines.append(_excerpt("body: " + " ".join(request.body.split())))
    if step.upload is not None:
        upload = step.upload
        lines.append(f"upload: {upload.field}={upload.filename}, {upload.size} bytes of {upload.content_type}")
    return lines


def _excerpt(text: str, limit: int = REQUEST_EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _run_step(check: _Check, session: aiohttp.ClientSession, index: int, step: Step) -> _Run:
    loop = asyncio.get_running_loop()
    try:
        request = _prepare(check, step)
    except _Unavailable as missing:
        if step.always and not missing.env:
            # The cleanup of something that was never created: there is nothing to send.
            return _Run(index, step, "not run", note=str(missing))
        return _Run(index, step, "failed", failure=(ErrorClass.ASSERTION, str(missing)))
    lines = _request_lines(step, request)
    if loop.time() >= check.deadline_at:
        if step.always:
            return _Run(index, step, "not run", note="the check's deadline had passed", lines=lines)
        failure = ErrorClass.TIMEOUT, f"not started: the check's {_ms(check.timeout_s)} ms deadline had passed"
        return _Run(index, step, "failed", failure=failure, lines=lines)
    parts = urlsplit(request.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        failure = ErrorClass.ASSERTION, f"URL is not an http:// or https:// URL with a host: {request.url}"
        return _Run(index, step, "failed", failure=failure, lines=lines)
    return await _send(check, session, index, step, request, lines)


def _content_limit(step: Step) -> int:
    searching = step.body_contains is not None or step.body_not_contains is not None
    extracting = any(extract.header is None for extract in step.extract.values())
    return SEARCH_BYTES if searching or extracting else EVIDENCE_BYTES


async def _send(
    check: _Check, session: aiohttp.ClientSession, index: int, step: Step, request: _Request, lines: list[str]
) -> _Run:
    import aiohttp

    from probes.http import aio

    connect_s = min(check.timeout_s, CONNECT_TIMEOUT_CAP)
    limit = _content_limit(step)
    hop = aio._Hop(request.url)
    token = aio._HOP.set(hop)
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    response: aiohttp.ClientResponse | None = None
    latency_ms = 0.0
    failure: Failure | None = None
    start = time.perf_counter()
    deadline = asyncio.timeout_at(check.deadline_at)
    data: Any = None
    skip: tuple[str, ...] | None = None
    if step.upload is not None:
        upload = step.upload
        data = aiohttp.FormData()
        for name, value in (request.form or {}).items():
            data.add_field(name, value)
        # A stream, not the bytes: aiohttp warns about (and sends in one go) a raw body over 1 MiB.
        # BytesIO shares the cached bytes until written to, so this copies nothing.
        content = io.BytesIO(upload_bytes(upload.size, upload.content_type))
        data.add_field(upload.field, content, filename=upload.filename, content_type=upload.content_type)
    elif request.form is not None:
        data = request.form
    elif request.body is not None:
        data = request.body.encode("utf-8")
        # aiohttp would label raw bytes application/octet-stream; send what the configuration says, or nothing.
        skip = aio._NO_AUTO_CONTENT_TYPE
    try:
        async with deadline:
            response = await session.request(
                request.method,
                request.url,
                proxy=aio.proxy_for(request.url),
                headers=request.headers or None,
                data=data,
                json=request.json_body,
                skip_auto_headers=skip,
                allow_redirects=step.follow_redirects,
                max_redirects=aio.MAX_REDIRECTS + 1,
                ssl=True,
                timeout=aiohttp.ClientTimeout(sock_connect=connect_s, ceil_threshold=math.inf),
            )
            latency_ms = (time.perf_counter() - start) * 1000
            await aio.read_into(response, limit, chunks)
    except (aiohttp.ClientError, OSError, ValueError) as exc:  # TimeoutError, the deadline's, is an OSError
        if deadline.expired():
            failure = _late(hop, response is not None, check.timeout_s)
        elif response is None:
            if isinstance(exc, aiohttp.ClientError | OSError):
                failure = aio._no_response(exc, hop, False, connect_s, check.timeout_s)
            else:  # a header value or URL the HTTP client refuses, usually from a substituted value
                failure = ErrorClass.ASSERTION, f"request could not be sent: {exc}"
        else:
            failure = aio._mid_body(exc, response, False, check.timeout_s)
        if response is None:
            lines.append(f"no response: {type(exc).__name__}: {str(exc) or failure[1]}")
            lines.append(f"time: {_ms(time.perf_counter() - start)} ms")
            return _Run(index, step, "failed", failure=failure, lines=lines)
    finally:
        aio._HOP.reset(token)
        if response is not None:
            response.release()
    if failure is None and loop.time() > check.deadline_at:
        # The last bytes were already buffered, so no await gave the deadline a chance to fire.
        failure = _late(hop, True, check.timeout_s)

    text = aio._decode(b"".join(chunks), response.headers.get("content-type", ""))
    if sum(len(chunk) for chunk in chunks) >= limit:
        text = check.secrets.trim_partial(text)  # the read may have stopped halfway through a secret
    if response.history:
        lines.append(f"after {len(response.history)} redirect(s): {response.url}")
    lines.append(f"HTTP {response.status} {response.reason or ''}".rstrip())
    for name in EVIDENCE_HEADERS:
        values = response.headers.getall(name, None)
        if values:
            lines.append(f"{name}: {', '.join(values)}")
    cookies = [cookie.key for reply in (*response.history, response) for cookie in reply.cookies.values()]
    if cookies:
        lines.append(f"cookies set: {', '.join(dict.fromkeys(cookies))}")  # names only: values sign people in
    lines.append(f"time: {latency_ms:.0f} ms to the response headers")

    failure = failure or _judge(step, request, response.status, latency_ms, text)
    if failure is None:
        failure = _extract(check, step, response, text)
    state = "passed" if failure is None else "failed"
    return _Run(index, step, state, failure=failure, lines=lines, body=text, status=response.status)


def _late(hop: _Hop, answered: bool, timeout_s: float) -> Failure:
    where = _host_port(str(hop.url))
    budget = f"the check's {_ms(timeout_s)} ms deadline"
    if answered:
        return ErrorClass.TIMEOUT, f"response not complete within {budget}"
    if hop.connected:
        return ErrorClass.TIMEOUT, f"no response from {where} within {budget}"
    return ErrorClass.TIMEOUT, f"could not connect to {where} within {budget}"


def _judge(step: Step, request: _Request, status: int, latency_ms: float, text: str) -> Failure | None:
    """The http kind's checks, in its order and words, plus the text that must not be there."""
    if status not in step.expect_status:
        expected = describe_statuses(step.expect_status)
        return ErrorClass.STATUS, f"expected status {expected}, got {status}"
    if step.max_latency is not None:
        limit_ms = step.max_latency.total_seconds() * 1000
        if latency_ms > limit_ms:
            return ErrorClass.SLOW, f"response took {latency_ms:.0f} ms, over the {limit_ms:.0f} ms limit"
    if request.body_contains is not None and request.body_contains not in text:
        return ErrorClass.ASSERTION, f"body does not contain {request.body_contains!r}"
    if request.body_not_contains is not None and request.body_not_contains in text:
        return ErrorClass.ASSERTION, f"body contains {request.body_not_contains!r}"
    return None


def _extract(check: _Check, step: Step, response: aiohttp.ClientResponse, text: str) -> Failure | None:
    found: dict[str, str] = {}
    parsed: Any = None
    for name, extract in step.extract.items():
        value: str | None
        if extract.header is not None:
            value = response.headers.get(extract.header)
            why = f"no {extract.header} header in the response"
        elif extract.regex is not None:
            match = re.search(extract.regex, text)
            value = None if match is None else match.group(1)
            why = f"regex {extract.regex!r} does not match the body"
        else:
            expression = extract.json_path or "@"
            if parsed is None:
                try:
                    parsed = json.loads(text)
                except (ValueError, RecursionError):
                    return ErrorClass.ASSERTION, f"could not extract {name}: the body is not JSON"
            try:
                value = _json_text(jmespath.search(expression, parsed))
            except (jmespath.exceptions.JMESPathError, RecursionError, TypeError, ValueError) as exc:
                # A function given the wrong kind of value fails only now: the body's shape, not a crash.
                detail = " ".join(str(exc).split()) or type(exc).__name__
                return ErrorClass.ASSERTION, f"could not extract {name}: {expression!r} fails on this body: {detail}"
            why = f"the JSON has no value at {expression!r}"
        if value is None:
            return ErrorClass.ASSERTION, f"could not extract {name}: {why}"
        found[name] = value
    check.variables.update(found)
    return None


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- the verdict -------------------------------------------------------------------------------------


def _summary(run: _Run, deciding: _Run | None) -> str:
    step = run.step
    label = f"step {run.index} {step.name!r}{' (always)' if step.always else ''}"
    if run.state in ("skipped", "not run"):
        return f"== {label}: {run.state}: {run.note}"
    outcome = f"HTTP {run.status}" if run.status is not None else "no response"
    if run.failure is None:
        return f"== {label}: passed, {outcome}"
    if run is deciding:
        return f"== {label}: FAILED, {outcome}: {run.failure[1]}"
    return f"== {label}: failed (not counted), {outcome}: {run.failure[1]}"


def _block(run: _Run, deciding: _Run | None) -> str:
    lines = [_summary(run, deciding), *run.lines]
    if run.body:
        excerpt_limit = EVIDENCE_LIMIT if run is deciding else STEP_EXCERPT
        body = run.body if len(run.body) <= excerpt_limit else run.body[:excerpt_limit] + "…"
        lines.extend(["", body])
    return "\n".join(lines)


def _assemble(head: list[str], blocks: list[str], summaries: list[str], keep: int | None) -> str:
    """The evidence within EVIDENCE_LIMIT: the deciding block (`keep`) whole if it can be, the others
    cut down to their summary line, earliest first, until it fits."""
    parts = list(blocks)

    def joined() -> str:
        return "\n".join(head) + "\n\n" + "\n\n".join(parts)

    text = joined()
    for index in range(len(parts)):
        if len(text) <= EVIDENCE_LIMIT:
            return text
        if index != keep:
            parts[index] = summaries[index]
            text = joined()
    if len(text) > EVIDENCE_LIMIT and keep is not None:
        over = len(text) - EVIDENCE_LIMIT + len(TRUNCATED)
        if over < len(parts[keep]) - len(summaries[keep]):
            parts[keep] = parts[keep][: len(parts[keep]) - over] + TRUNCATED
            text = joined()
    return _bounded(text)


def _result(
    spec: StepsProbeSpec,
    location: str,
    started_at: datetime,
    runs: list[_Run],
    deciding: _Run | None,
    secrets: Secrets,
) -> CheckResult:
    head = [] if deciding is None else [f"{FAILED_STEP}{deciding.step.name}"]
    head.append(f"probed from: {location}")
    # Redacted before anything is cut, so no cut can leave the start of a secret behind.
    blocks = [secrets.redact(_block(run, deciding)) for run in runs]
    summaries = [secrets.redact(_summary(run, deciding)) for run in runs]
    keep = None if deciding is None else runs.index(deciding)
    evidence = secrets.redact(_assemble([secrets.redact(line) for line in head], blocks, summaries, keep))
    answered = [run for run in runs if run.status is not None]
    last = deciding if deciding is not None else (answered[-1] if answered else None)
    failure: Failure | None = None
    if deciding is not None and deciding.failure is not None:
        failure = deciding.failure[0], secrets.redact(f"step {deciding.step.name!r}: {deciding.failure[1]}")
    latency_ms = None if last is None or last.status is None else last.finished_ms
    status_code = None if last is None else last.status
    return judged(spec.id, location, started_at, failure, evidence, latency_ms=latency_ms, status_code=status_code)
