"""Headers every answer carries: no framing, no sniffing, no inline code, no referrer leaks.

Set in after_request, which Flask also runs on what the error handlers return (404, 405, 413, 401
from the ops API, 500, 503) and on static files, so no answer of the app goes out without them.
Answers gunicorn writes itself (400 for a malformed request, 414 for an over-long request line)
never reach Flask: the reverse proxy in front can add the same headers to those.
"""

from __future__ import annotations

from flask import Flask, Response, request

# Pages load only their own stylesheet; JSON loads nothing. Nobody may frame either (clickjacking).
# No 'unsafe-inline' anywhere: the page has no inline script or style (status.css is a file).
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def is_api_path(path: str) -> bool:
    """The JSON surfaces (/api/v2/*, /api/ops/*), which answer errors in JSON too."""
    return path == "/api" or path.startswith("/api/")


def security_headers(path: str) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": API_CSP if is_api_path(path) else PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
        # Forms (self-service and the dashboard) are checked over HTTPS against their Referer
        # (flask-wtf's strict check), which a browser sends only if the page allows it: within the site
        # only, never to another, so a case page's address never reaches a third party.
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if path.startswith(("/api/ops/", "/ops/")):
        headers["Cache-Control"] = "no-store"  # case data and signed-in pages never sit in a cache
    return headers


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in security_headers(request.path).items():
            response.headers.setdefault(name, value)
        return response
