"""Small portals on 127.0.0.1 for the `steps` and `browser` probes of bench.probe_throughput.

Each is a LoopbackServer (bench.detection_latency's: a ThreadingHTTPServer on a thread), HTTP/1.1 with
keep-alive and TCP_NODELAY as a real portal's server, and counts what it answered; GET /_stats gives
the counts as JSON. Probe n uses paths under /s/<n>/ (steps) or /b/<n>/ (browser), so every probe has
URLs of its own. `serve(kind, port_file, password)` runs one in a process of its own until SIGTERM,
writing its port to `port_file` once it listens.

The steps portal, one transaction per check:
  GET  /s/<n>/sign-in              200, a form holding a one-time token: name="csrf" value="<hex>"
  POST /s/<n>/sign-in              form user, password, csrf: 200 "Welcome, probe" and a session cookie
  POST /s/<n>/documents            multipart upload (field `file`), signed in: 201 {"id": "<doc>"}
  GET  /s/<n>/documents/<doc>      signed in: 200 {"id", "filename", "size", "sha256"}
  DELETE /s/<n>/documents/<doc>    signed in: 204; the document and the session are gone
A wrong token, password, session or document, or a document of another probe, is answered 403 or 404
and counted as refused.

The browser portal:
  GET  /b/<n>/sign-in              a page with #user, #password and a submit button
  POST /b/<n>/sign-in              user and password right: a page with #dashboard, "Welcome, probe"
  GET  /favicon.ico                404 (the browser asks for it; counted apart)

Counts (/_stats): probe (sign-in pages served: checks begun), refused, other (a path or method
neither portal serves), and per step.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from bench.detection_latency import LoopbackServer

KINDS = ("steps", "browser")
USER = "probe"
BACKLOG = 1024  # the first tick sends every probe at once: ThreadingHTTPServer's 5 would drop connections
MAX_BODY = 1 << 20
CSRF = re.compile(rb'name="csrf" value="([0-9a-f]+)"')
STEPS_PATH = re.compile(r"^/s/(\d+)/(sign-in|documents)(?:/([0-9a-f]+))?$")
BROWSER_PATH = re.compile(r"^/b/(\d+)/sign-in$")
SESSION_COOKIE = re.compile(r"(?:^|;\s*)session=([0-9a-f]+)")


def page(title: str, body: str) -> bytes:
    # An empty icon of its own: without it a browser asks for /favicon.ico and logs the 404 as a console error.
    head = f'<title>{title}</title><link rel="icon" href="data:,">'
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


class Portal(LoopbackServer):
    """The common part: the handler, its counts, the password it accepts and /_stats."""

    name = "portal"

    def __init__(self, password: str) -> None:
        self.password = password
        self.lock = threading.Lock()
        self.stats: dict[str, int] = {"probe": 0, "refused": 0, "other": 0}
        portal = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the probes' connection pool reuses its connections
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                portal.handle(self, "GET")

            def do_POST(self) -> None:
                portal.handle(self, "POST")

            def do_DELETE(self) -> None:
                portal.handle(self, "DELETE")

        self._serve(Handler, f"bench-{self.name}")
        self.server.socket.listen(BACKLOG)  # Linux takes a new backlog from a second listen()

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.stats)

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.count("other")
            send(request, 413, b"too large\n", "text/plain", close=True)
            return
        body = request.rfile.read(length) if length else b""
        path = request.path.split("?", 1)[0]
        if method == "GET" and path == "/_stats":
            send(request, 200, json.dumps(self.snapshot()).encode(), "application/json")
            return
        self.route(request, method, path, body)

    def route(self, request: BaseHTTPRequestHandler, method: str, path: str, body: bytes) -> None:
        raise NotImplementedError

    def other(self, request: BaseHTTPRequestHandler) -> None:
        self.count("other")
        send(request, 404, b"not a path of this portal\n", "text/plain")

    def refuse(self, request: BaseHTTPRequestHandler, status: int, why: str) -> None:
        self.count("refused")
        send(request, status, json.dumps({"error": why}).encode(), "application/json")


def send(
    request: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
) -> None:
    request.send_response(status)
    if body or status != 204:
        request.send_header("Content-Type", f"{content_type}; charset=utf-8")
    request.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    if close:
        request.send_header("Connection", "close")
        request.close_connection = True
    request.end_headers()
    if body:
        request.wfile.write(body)


class StepsPortal(Portal):
    """Sign-in with a one-time token, a session cookie, an upload, its read-back and its deletion."""

    name = "steps-portal"

    def __init__(self, password: str) -> None:
        super().__init__(password)
        self.tokens: dict[str, str] = {}  # one-time csrf token -> probe number it was issued to
        self.sessions: dict[str, str] = {}  # session id -> probe number
        self.documents: dict[str, dict[str, Any]] = {}  # document id -> its session and what was stored

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**self.stats, "documents_kept": len(self.documents), "sessions_open": len(self.sessions)}

    def route(self, request: BaseHTTPRequestHandler, method: str, path: str, body: bytes) -> None:
        match = STEPS_PATH.match(path)
        if match is None:
            self.other(request)
            return
        n, what, doc = match.groups()
        if what == "sign-in" and doc is None and method == "GET":
            self.sign_in_page(request, n)
        elif what == "sign-in" and doc is None and method == "POST":
            self.sign_in(request, n, body)
        elif what == "documents" and doc is None and method == "POST":
            self.upload(request, n, body)
        elif what == "documents" and doc is not None and method in ("GET", "DELETE"):
            self.document(request, n, doc, method)
        else:
            self.other(request)

    def sign_in_page(self, request: BaseHTTPRequestHandler, n: str) -> None:
        token = secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = n
            self.stats["probe"] += 1
        form = (
            f'<form method="post" action="/s/{n}/sign-in"><input type="hidden" name="csrf" value="{token}">'
            '<input name="user"><input name="password" type="password"><button>Sign in</button></form>'
        )
        send(request, 200, page("Sign in", form), "text/html")

    def sign_in(self, request: BaseHTTPRequestHandler, n: str, body: bytes) -> None:
        form = {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        with self.lock:
            issued_to = self.tokens.pop(form.get("csrf", ""), None)
        if issued_to != n:
            self.refuse(request, 403, "csrf token unknown, used or of another form")
            return
        if form.get("user") != USER or form.get("password") != self.password:
            self.refuse(request, 403, "wrong user or password")
            return
        session = secrets.token_hex(16)
        with self.lock:
            self.sessions[session] = n
            self.stats["sign-in"] = self.stats.get("sign-in", 0) + 1
        cookie = {"Set-Cookie": f"session={session}; Path=/s/{n}/; HttpOnly; SameSite=Lax"}
        send(request, 200, page("Your file", f"<h1>Welcome, {USER}</h1>"), "text/html", cookie)

    def signed_in(self, request: BaseHTTPRequestHandler, n: str) -> str | None:
        found = SESSION_COOKIE.search(request.headers.get("Cookie") or "")
        session = found.group(1) if found else ""
        with self.lock:
            known = self.sessions.get(session) == n
        return session if known else None

    def upload(self, request: BaseHTTPRequestHandler, n: str, body: bytes) -> None:
        session = self.signed_in(request, n)
        if session is None:
            self.refuse(request, 403, "not signed in")
            return
        file = multipart_file(request.headers.get("Content-Type") or "", body, "file")
        if file is None or not file[1].startswith(b"%PDF"):
            self.refuse(request, 400, "no PDF in the field `file`")
            return
        filename, content = file
        doc = secrets.token_hex(8)
        stored = {
            "session": session,
            "id": doc,
            "filename": filename,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        with self.lock:
            self.documents[doc] = stored
            self.stats["upload"] = self.stats.get("upload", 0) + 1
        send(request, 201, json.dumps({"id": doc}).encode(), "application/json")

    def document(self, request: BaseHTTPRequestHandler, n: str, doc: str, method: str) -> None:
        session = self.signed_in(request, n)
        if session is None:
            self.refuse(request, 403, "not signed in")
            return
        with self.lock:
            stored = self.documents.get(doc)
            if stored is not None and stored["session"] == session and method == "DELETE":
                del self.documents[doc]
                self.sessions.pop(session, None)  # the transaction is over: sign out as well
        if stored is None or stored["session"] != session:
            self.refuse(request, 404, "no such document in this session")
            return
        if method == "DELETE":
            self.count("delete")
            send(request, 204, b"", "text/plain")
            return
        self.count("read-back")
        shown = {key: value for key, value in stored.items() if key != "session"}
        send(request, 200, json.dumps(shown).encode(), "application/json")


def multipart_file(content_type: str, body: bytes, field: str) -> tuple[str, bytes] | None:
    """(filename, content) of the file sent in `field` of a multipart/form-data body, or None."""
    boundary = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not content_type.startswith("multipart/form-data") or boundary is None:
        return None
    for part in body.split(b"--" + boundary.group(1).encode())[1:-1]:
        head, _, content = part.partition(b"\r\n\r\n")
        disposition = re.search(rb'name="([^"]*)"(?:; filename="([^"]*)")?', head)
        if disposition is not None and disposition.group(1) == field.encode() and disposition.group(2):
            return disposition.group(2).decode(), content.removesuffix(b"\r\n")
    return None


class BrowserPortal(Portal):
    """A sign-in page and the dashboard its form leads to."""

    name = "browser-portal"

    def route(self, request: BaseHTTPRequestHandler, method: str, path: str, body: bytes) -> None:
        if path == "/favicon.ico" and method == "GET":
            self.count("favicon")
            send(request, 404, b"", "text/plain")
            return
        match = BROWSER_PATH.match(path)
        if match is None:
            self.other(request)
            return
        n = match.group(1)
        if method == "GET":
            self.count("probe")
            html = (
                f'<form method="post" action="/b/{n}/sign-in"><label>User <input id="user" name="user"></label>'
                '<label>Password <input id="password" name="password" type="password"></label>'
                '<button type="submit">Sign in</button></form>'
            )
            send(request, 200, page("Sign in", html), "text/html")
        elif method == "POST":
            form = {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
            if form.get("user") != USER or form.get("password") != self.password:
                self.count("refused")
                send(request, 200, page("Sign in failed", "<p>Wrong user or password</p>"), "text/html")
                return
            self.count("sign-in")
            send(request, 200, page("Your file", f'<h1>Welcome, {USER}</h1><div id="dashboard">ok</div>'), "text/html")
        else:
            self.other(request)


PORTALS: dict[str, Callable[[str], Portal]] = {"steps": StepsPortal, "browser": BrowserPortal}


def serve(kind: str, port_file: Path, password: str) -> int:
    """Run the `kind` portal until SIGTERM or SIGINT; its port goes to `port_file` once it listens."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with PORTALS[kind](password) as portal:
        partial = port_file.with_suffix(".partial")
        partial.write_text(str(portal.server.server_address[1]))
        partial.rename(port_file)
        while not stop.wait(1.0):
            pass
    return 0
