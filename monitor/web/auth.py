"""Who is asking, and may they: bearer tokens for the ops API, a signed-in session for the dashboard.

**Bearer tokens** (`Authorization: Bearer <token>`, every /api/ops route): a person's own token
(`pw_…`, looked up by its SHA-256; revoked tokens and inactive people are refused), or the bootstrap
token `PORTALWATCH_OPS_TOKEN`, compared in constant time, which acts as an admin named `bootstrap`.
Without one of these the answer is 401 and nothing else. The API takes no cookies, so it needs no CSRF.

**Roles per route.** A view may say what it needs with `@requires(Role.X)`; otherwise reading (GET,
HEAD, OPTIONS) needs `viewer` and anything else `ops`. Too low a role is a 403 naming both.

**Sessions** (the dashboard, under /ops/): a signed cookie holding the person's id and a key derived from
their password hash, so a new password ends every session. The cookie is HttpOnly, SameSite=Lax, and
Secure whenever the request came over HTTPS (behind a proxy: with PORTALWATCH_TRUSTED_PROXIES set).
Forms that change anything check the CSRF token the self-service forms already use.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, has_request_context, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface

from monitor.people.credentials import allows
from monitor.storage.enums import Role
from monitor.usecases import people
from monitor.usecases.audit import BOOTSTRAP, Actor
from monitor.web.context import current_runtime, db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ROLE_ATTRIBUTE = "portalwatch_role"
SESSION_LIFETIME = timedelta(hours=12)
_PERSON = "ops_person"
_KEY = "ops_key"

View = TypeVar("View", bound=Callable[..., Any])


def requires(role: Role) -> Callable[[View], View]:
    """Mark a view as needing `role` at least (instead of the default for its method)."""

    def mark(view: View) -> View:
        setattr(view, _ROLE_ATTRIBUTE, role)
        return view

    return mark


def required_role(view: Callable[..., Any] | None, method: str) -> Role:
    """What a view needs: what it was marked with, else `viewer` to read and `ops` for anything else."""
    marked = getattr(view, _ROLE_ATTRIBUTE, None)
    if isinstance(marked, Role):
        return marked
    return Role.VIEWER if method.upper() in SAFE_METHODS else Role.OPS


# --- the ops API: bearer tokens --------------------------------------------------------------------


def bearer_actor() -> Actor | None:
    """Who the request's bearer token names, or None."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        return None
    runtime = current_runtime()
    bootstrap = runtime.settings.token
    if bootstrap and hmac.compare_digest(presented.encode(), bootstrap.encode()):
        return BOOTSTRAP
    return people.authenticate_token(runtime.sessions, presented, now=runtime.clock())


def _unauthorized() -> Response:
    message = "a valid 'Authorization: Bearer <token>' header is required"
    if not current_runtime().settings.token:
        message += " (PORTALWATCH_OPS_TOKEN, the bootstrap token, is not set: only people's own tokens are accepted)"
    response = jsonify({"error": "unauthorized", "message": message})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="portalwatch-ops"'
    return response


def forbidden(actor: Actor, needed: Role) -> Response:
    response = jsonify(
        {
            "error": "forbidden",
            "message": f"this needs the {needed.value} role or above; {actor.name} has {actor.role.value}",
        }
    )
    response.status_code = 403
    return response


def authorise_api() -> Response | None:
    """The ops API blueprints' before_request: 401 without a valid token, 403 with too low a role."""
    actor = bearer_actor()
    if actor is None:
        return _unauthorized()
    g.actor = actor
    needed = required_role(current_app.view_functions.get(request.endpoint or ""), request.method)
    if not allows(actor.role, needed):
        return forbidden(actor, needed)
    return None


def current_actor() -> Actor:
    """Who is acting in this request (set by authorise_api, or by a dashboard view's sign-in check)."""
    actor: Actor = g.actor
    return actor


# --- the dashboard: sessions -----------------------------------------------------------------------


def sign_in(signed_in: people.SignedIn) -> None:
    """Start a session for the person: a fresh cookie (no state from before signing in carries over)."""
    session.clear()
    session.permanent = True
    session[_PERSON] = signed_in.actor.person_id
    session[_KEY] = signed_in.session_key


def sign_out() -> None:
    session.clear()


def current_person() -> Actor | None:
    """The person signed in to the dashboard in this request, or None: what every dashboard view starts with."""
    if "person" not in g:
        g.person = people.signed_in_actor(db(), session.get(_PERSON), session.get(_KEY)) if _PERSON in session else None
    person: Actor | None = g.person
    return person


class _SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        # Secure when the request came over HTTPS (ProxyFix tells behind trusted proxies), so the cookie
        # never goes back over plain HTTP; plain HTTP on a machine of one's own (the demo) still works.
        configured = bool(app.config["SESSION_COOKIE_SECURE"])
        return configured or (has_request_context() and request.is_secure)


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
