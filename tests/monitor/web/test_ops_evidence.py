"""A failed check's evidence through the ops API, screenshot included: a real browser probe (Debian's
chromium) fails against a page on 127.0.0.1, its screenshot is kept in the evidence store, listed with
the check and its outage, and served as the PNG it was, and only as that."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from monitor.evidence.store import FileStore
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Check, EvidencePiece
from monitor.usecases.checks import Due, run_checks
from monitor.web import create_app
from probes.browser.runner import chromium_path
from tests.conftest import make_runtime
from tests.monitor.web.conftest import TOKEN, bearer

pytestmark = pytest.mark.timeout(90)


class _Down(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b"<!doctype html><title>Down</title><h1 style='color:#b00'>Service unavailable</h1>"
        self.send_response(503)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def down_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Down)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pr/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def runtime(sqlite_url: str, tmp_path: Path, down_page: str) -> Iterator[Runtime]:
    if not Path(chromium_path()).exists():
        pytest.fail("chromium is required for browser probe tests: `make test` installs Debian's chromium package")
    config = f"""
failure_threshold: 1
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {{id: pr-browser, type: browser, url: "{down_page}", interval: 30s, timeout: 15s}}
"""
    runtime = make_runtime(sqlite_url, config, ops_token=TOKEN, evidence_dir=str(tmp_path / "evidence"))
    yield runtime
    runtime.close()  # the probe engine's loop, and the chromium it started


@pytest.fixture
def failed_check(runtime: Runtime) -> int:
    """The browser probe run once through the engine, as a worker runs a batch; the failed check's id."""
    slot = datetime.now(UTC).replace(microsecond=0)
    [recorded] = list(run_checks(runtime, "local", [Due("pr-browser", slot)]))
    assert recorded.recorded == 1
    with transaction(runtime.sessions) as session:
        check = session.scalars(select(Check)).one()
        assert not check.ok and check.status_code == 503, check.evidence
        return check.id


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


def test_a_browser_probe_s_screenshot_is_stored_listed_and_served_as_a_png(
    runtime: Runtime, failed_check: int, client: FlaskClient
) -> None:
    body = client.get(f"/api/ops/checks/{failed_check}", headers=bearer()).get_json()
    [piece] = body["evidence_pieces"]
    assert (piece["name"], piece["content_type"]) == ("screenshot", "image/png")
    assert piece["url"] == f"/api/ops/checks/{failed_check}/evidence/screenshot"
    assert f"screenshot: sha256:{piece['sha256']} ({piece['size']} bytes)" in body["evidence"]
    assert body["evidence_sha256"] == hashlib.sha256(body["evidence"].encode()).hexdigest()
    assert body["evidence_pruned_at"] is None

    answer = client.get(piece["url"], headers=bearer())
    assert answer.status_code == 200
    assert answer.mimetype == "image/png"
    png = answer.get_data()
    assert png.startswith(b"\x89PNG")
    assert len(png) == piece["size"] > 1000
    assert hashlib.sha256(png).hexdigest() == piece["sha256"] == answer.headers["X-Evidence-SHA256"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # The file in the store is the same picture, under its digest.
    assert FileStore(runtime.settings.evidence_path).read(piece["sha256"]) == png

    # The outage it opened shows its first failed check's pieces too.
    [outage] = client.get("/api/ops/outages", headers=bearer()).get_json()["outages"]
    assert outage["first_failed_check"]["id"] == failed_check
    assert outage["first_failed_check"]["evidence_pieces"] == [piece]


def test_a_piece_needs_the_token_and_an_unknown_one_is_a_json_404(failed_check: int, client: FlaskClient) -> None:
    assert client.get(f"/api/ops/checks/{failed_check}/evidence/screenshot").status_code == 401
    for path in (
        f"/api/ops/checks/{failed_check}/evidence/console",
        f"/api/ops/checks/{failed_check + 1}/evidence/screenshot",
        f"/api/ops/checks/{failed_check}/evidence/..%2Fscreenshot",
    ):
        answer = client.get(path, headers=bearer())
        assert answer.status_code == 404, path
        assert answer.get_json()["error"] == "not_found"


def test_a_file_gone_from_the_store_is_a_410_and_a_changed_one_is_never_served(
    runtime: Runtime, failed_check: int, client: FlaskClient
) -> None:
    with transaction(runtime.sessions) as session:
        digest = session.scalars(select(EvidencePiece.sha256)).one()
    path = FileStore(runtime.settings.evidence_path).path(digest)
    url = f"/api/ops/checks/{failed_check}/evidence/screenshot"
    original = path.read_bytes()

    path.chmod(0o644)
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    answer = client.get(url, headers=bearer())
    assert answer.status_code == 409
    assert answer.get_json()["error"] == "evidence_altered"
    assert f"expected {digest}" in answer.get_json()["message"]

    path.unlink()
    answer = client.get(url, headers=bearer())
    assert answer.status_code == 410
    assert answer.get_json() == {
        "error": "evidence_missing",
        "message": f"the file of check {failed_check}'s screenshot (sha256:{digest}) is missing from the "
        "evidence store",
    }
    # The check itself still lists the piece: the record says there was a screenshot.
    [listed] = client.get(f"/api/ops/checks/{failed_check}", headers=bearer()).get_json()["evidence_pieces"]
    assert listed["sha256"] == digest
