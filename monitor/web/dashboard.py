"""The ops dashboard: pages under /ops/ for people with a password (see monitor.web.auth).

Server-rendered, working without JavaScript, every word from monitor.web.dashboard_texts (English and
French). Signing in is rate limited per client, the password checked against its slow hash, with the
same answer and the same work for an unknown name and a wrong password. Every view starts with
`signed_in(role)`: reading needs `viewer`, acting `ops`. Every form carries the CSRF token the
self-service forms use, checked before anything is done.

The pages read through monitor.usecases (overview, components, locations, maintenance) and each action
is the desk's use case the ops API calls, so it leaves the same audit entry, naming the person. An action
answers with a redirect to the page showing its effect (POST-redirect-GET) and a line saying it was done;
bad input shows the form again with what was typed and a message naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, g, get_flashed_messages, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from monitor.people.credentials import allows
from monitor.storage.engine import transaction
from monitor.storage.enums import Language, LocationSight, Role, Severity
from monitor.storage.models import Component
from monitor.usecases import desk, maintenance, outages, overview, people
from monitor.usecases.audit import Actor
from monitor.usecases.checks import outage_subject
from monitor.usecases.components import component_states
from monitor.usecases.locations import location_views
from monitor.web import auth
from monitor.web.auth import current_actor
from monitor.web.context import current_runtime, db
from monitor.web.dashboard_forms import form_instant, optional, text
from monitor.web.dashboard_texts import ops_texts
from monitor.web.errors import error_response
from monitor.web.pieces import piece_response
from monitor.web.selfservice import csrf, limiter
from monitor.web.texts import LANGUAGES, language, when

dashboard = Blueprint("dashboard", __name__)

# Per client address; a person who forgot their password still has their API token.
SIGN_IN_LIMIT = "10/minute;100/hour"


def signed_in(role: Role = Role.VIEWER) -> Actor | BaseResponse:
    """The signed-in person, if their role is at least `role`; otherwise the answer to give instead
    (to the sign-in page, or a 403). A dashboard view starts with it:

        person = signed_in(Role.OPS)
        if not isinstance(person, Actor):
            return person
    """
    person = auth.current_person()
    if person is None:
        return redirect(url_for("dashboard.sign_in"), code=303)
    if not allows(person.role, role):
        message = f"This needs the {role.value} role or above; {person.name} has {person.role.value}."
        return error_response(403, "forbidden", message)
    g.actor = person  # who the audit entries of what this request does name (auth.current_actor)
    return person


# --- rendering ---------------------------------------------------------------------------------------


def _chosen_language() -> dict[str, Any]:
    """`lang` for the links and redirects of a page whose language was asked for; none when the browser's
    preference chose it (it will again)."""
    for asked in (request.args.get("lang"), request.form.get("lang")):
        if asked in LANGUAGES:
            return {"lang": str(asked)}
    return {}


def _render(template: str, *, status: int = 200, **context: Any) -> tuple[str, int]:
    lang = language()
    page = current_runtime().config.page
    person = auth.current_person()
    shown = render_template(
        template,
        t=ops_texts(lang),
        lang=lang,
        page=page,
        zone=page.time_zone,
        person=person,
        can_act=person is not None and allows(person.role, Role.OPS),
        when=when,
        link=_chosen_language(),
        done=get_flashed_messages(),
        severities=list(Severity),
        languages=list(Language),
        **context,
    )
    return shown, status


def _done(message: str, endpoint: str, **values: Any) -> BaseResponse:
    """After an action: to the page that shows its effect, with a line saying it was done (a catalogue key)."""
    flash(message)
    arguments: dict[str, Any] = {**values, **_chosen_language()}
    return redirect(url_for(endpoint, **arguments), code=303)


class FormError:
    """What went wrong with a form, for the page that shows it again: which form, which field, why."""

    def __init__(self, form: str, field: str | None, message: str) -> None:
        self.form = form
        self.field = field
        self.message = message


def _acting() -> Actor | BaseResponse:
    """The signed-in person, if they may act (ops and above), once the form's CSRF token has been checked."""
    person = signed_in(Role.OPS)
    if not isinstance(person, Actor):
        return person
    csrf.protect()
    _end_reading()
    return person


def _end_reading() -> None:
    """End the transaction reading who is signed in began on the request's session, before one of its own:
    on SQLite every transaction holds the write lock, which the other would wait for."""
    db().rollback()


# --- signing in ------------------------------------------------------------------------------------


def _sign_in_page(*, error: bool = False, name: str = "", status: int = 200) -> tuple[str, int]:
    return _render("dashboard/sign_in.html", status=status, error=error, name=name)


@dashboard.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_LIMIT, methods=["POST"])
def sign_in() -> BaseResponse | tuple[str, int]:
    if request.method == "GET":
        return _sign_in_page()
    csrf.protect()
    name = request.form.get("name", "").strip()[:64]
    checked = people.check_password(current_runtime().sessions, name, request.form.get("password", ""))
    if checked is None:
        return _sign_in_page(error=True, name=name, status=401)
    auth.sign_in(checked)
    return redirect(url_for("dashboard.home", **_chosen_language()), code=303)


@dashboard.post("/sign-out")
def sign_out() -> BaseResponse:
    csrf.protect()
    auth.sign_out()
    return redirect(url_for("dashboard.sign_in", **_chosen_language()), code=303)


# --- the overview ----------------------------------------------------------------------------------


@dashboard.get("/")
def home() -> BaseResponse | tuple[str, int]:
    person = signed_in()
    if not isinstance(person, Actor):
        return person
    session = db()
    now = current_runtime().clock()
    states = component_states(session, now=now)
    open_outages = overview.open_outages(session)
    windows = maintenance.list_maintenance(session, now=now)
    return _render(
        "dashboard/home.html",
        open_outages=open_outages,
        failing={state["id"]: state["failing_locations"] for state in states},
        relief={shown.outage.id: desk.relief_resting_on(session, shown.outage.id) for shown in open_outages},
        components=states,
        blind=[view for view in location_views(session) if view.active and view.sight == LocationSight.BLIND],
        interrupted=overview.interrupted_monitoring(session, now=now),
        in_progress=[window for window in windows if window.in_progress],
        upcoming=[window for window in windows if not window.in_progress and window.upcoming],
        resolved=overview.recent_resolved(session),
    )


# --- one outage ------------------------------------------------------------------------------------


def _outage_page(outage_id: int, *, error: FormError | None = None, status: int = 200) -> tuple[str, int]:
    try:
        detail = overview.outage_detail(db(), outage_id)
    except outages.NotFound:
        return _not_found(outage_id)
    outage = detail.summary.outage
    false_positive = None
    if outage.false_positive_at is not None:
        false_positive = desk.false_positive_relief(detail.relief)
    return _render(
        "dashboard/outage.html",
        status=status,
        detail=detail,
        outage=outage,
        false_positive=false_positive,
        error=error,
        values=request.form if error is not None else {},
    )


def _not_found(outage_id: int) -> tuple[str, int]:
    return _render("dashboard/not_found.html", status=404, outage_id=outage_id)


@dashboard.get("/outages/<int:outage_id>")
def outage_page(outage_id: int) -> BaseResponse | tuple[str, int]:
    person = signed_in()
    if not isinstance(person, Actor):
        return person
    return _outage_page(outage_id)


# An action returns the outbox subjects it wrote besides the outage's own (an update's thread reply), if any.
Action = Callable[[Session, Actor, datetime], Any]


def _outage_action(outage_id: int, form: str, action: Action, done: str) -> BaseResponse | tuple[str, int]:
    """Do one of the desk's actions on an outage in its own transaction, then show the outage again."""
    person = _acting()
    if not isinstance(person, Actor):
        return person
    runtime = current_runtime()
    try:
        with transaction(runtime.sessions) as session:
            subjects = action(session, current_actor(), runtime.clock())
            extra = subjects if isinstance(subjects, list) else []
            deliveries = overview.pending_deliveries(session, outage_subject(outage_id), *extra)
    except outages.NotFound:
        return _not_found(outage_id)
    except outages.InvalidInput as exc:
        return _outage_page(outage_id, error=FormError(form, exc.field, exc.message), status=400)
    except outages.Conflict as exc:
        return _outage_page(outage_id, error=FormError(form, exc.field, exc.message), status=409)
    overview.deliver_soon(runtime, deliveries)
    return _done(done, "dashboard.outage_page", outage_id=outage_id)


@dashboard.post("/outages/<int:outage_id>/acknowledge")
def acknowledge(outage_id: int) -> BaseResponse | tuple[str, int]:
    def act(session: Session, actor: Actor, now: datetime) -> None:
        desk.acknowledge(session, actor, outage_id, now=now)

    return _outage_action(outage_id, "acknowledge", act, "done_acknowledged")


@dashboard.post("/outages/<int:outage_id>/updates")
def post_update(outage_id: int) -> BaseResponse | tuple[str, int]:
    form = request.form

    def act(session: Session, actor: Actor, now: datetime) -> list[str]:
        update = desk.post_update(
            session,
            actor,
            outage_id,
            body=text(form, "body"),
            public=form.get("public") == "yes",
            language=optional(form, "language"),
            now=now,
        )
        return [desk.update_subject(outage_id, update.id)]  # its thread reply in Slack

    return _outage_action(outage_id, "update", act, "done_update")


@dashboard.post("/outages/<int:outage_id>/correct")
def correct(outage_id: int) -> BaseResponse | tuple[str, int]:
    form = request.form
    zone = current_runtime().config.page.time_zone

    def act(session: Session, actor: Actor, now: datetime) -> None:
        changes: dict[str, object] = {}
        for name in ("started_at", "ended_at"):
            moment = form_instant(optional(form, name), zone, name)
            if moment is not None:
                changes[name] = moment
        if optional(form, "severity") is not None:
            changes["severity"] = optional(form, "severity")
        if not changes:
            raise outages.InvalidInput("started_at", "nothing to correct: give a new start, end or severity")
        desk.correct_outage(session, actor, outage_id, changes=changes, reason=text(form, "reason"), now=now)

    return _outage_action(outage_id, "correct", act, "done_corrected")


@dashboard.post("/outages/<int:outage_id>/false-positive")
def false_positive(outage_id: int) -> BaseResponse | tuple[str, int]:
    form = request.form

    def act(session: Session, actor: Actor, now: datetime) -> None:
        desk.mark_false_positive(session, actor, outage_id, reason=text(form, "reason"), now=now)

    # The outage's page then says what became of the relief resting on it (never worse off).
    return _outage_action(outage_id, "false_positive", act, "done_false_positive")


@dashboard.get("/checks/<int:check_id>/evidence/<name>")
def check_piece(check_id: int, name: str) -> BaseResponse:
    """A piece of a check's evidence (the screenshot shown inline), for anyone signed in, as the API serves it."""
    person = signed_in()
    if not isinstance(person, Actor):
        return person
    _end_reading()
    return piece_response(check_id, name)


# --- declaring an outage -----------------------------------------------------------------------------


def _components() -> list[Component]:
    return list(db().scalars(select(Component).where(Component.active).order_by(Component.position, Component.id)))


def _declare_page(*, error: FormError | None = None, status: int = 200) -> tuple[str, int]:
    return _render(
        "dashboard/declare.html",
        status=status,
        components=_components(),
        error=error,
        values=request.form if error is not None else {},
    )


@dashboard.route("/outages/declare", methods=["GET", "POST"])
def declare() -> BaseResponse | tuple[str, int]:
    if request.method == "GET":
        person = signed_in(Role.OPS)
        if not isinstance(person, Actor):
            return person
        return _declare_page()
    person = _acting()
    if not isinstance(person, Actor):
        return person
    runtime = current_runtime()
    form = request.form
    zone = runtime.config.page.time_zone
    try:
        with transaction(runtime.sessions) as session:
            outage = desk.declare_outage(
                session,
                current_actor(),
                component_id=text(form, "component"),
                started_at=form_instant(optional(form, "started_at"), zone, "started_at"),
                ended_at=form_instant(optional(form, "ended_at"), zone, "ended_at"),
                severity=text(form, "severity"),
                reason=text(form, "reason"),
                now=runtime.clock(),
                grace_days=runtime.config.relief.grace_days,
            )
            outage_id = outage.id
            deliveries = overview.pending_deliveries(session, outage_subject(outage_id))
    except outages.InvalidInput as exc:
        return _declare_page(error=FormError("declare", exc.field, exc.message), status=400)
    overview.deliver_soon(runtime, deliveries)
    return _done("done_declared", "dashboard.outage_page", outage_id=outage_id)


# --- maintenance -------------------------------------------------------------------------------------


def _maintenance_page(*, error: FormError | None = None, status: int = 200) -> tuple[str, int]:
    now = current_runtime().clock()
    return _render(
        "dashboard/maintenance.html",
        status=status,
        windows=maintenance.list_maintenance(db(), now=now, include_inactive=True),
        components=_components(),
        error=error,
        values=request.form if error is not None and error.form == "announce" else {},
        chosen=request.form.getlist("components") if error is not None else [],
    )


@dashboard.get("/maintenance")
def maintenance_page() -> BaseResponse | tuple[str, int]:
    person = signed_in()
    if not isinstance(person, Actor):
        return person
    return _maintenance_page()


@dashboard.post("/maintenance")
def announce_maintenance() -> BaseResponse | tuple[str, int]:
    person = _acting()
    if not isinstance(person, Actor):
        return person
    runtime = current_runtime()
    form = request.form
    zone = runtime.config.page.time_zone
    try:
        starts_at = form_instant(optional(form, "starts_at"), zone, "starts_at")
        if starts_at is None:
            raise outages.InvalidInput("starts_at", "is required: when the window begins")
        with transaction(runtime.sessions) as session:
            window = desk.announce_maintenance(
                session,
                current_actor(),
                components=form.getlist("components"),
                starts_at=starts_at,
                ends_at=form_instant(optional(form, "ends_at"), zone, "ends_at"),
                title=text(form, "title"),
                now=runtime.clock(),
            )
            deliveries = overview.pending_deliveries(session, maintenance.maintenance_subject(window.id))
    except outages.InvalidInput as exc:
        return _maintenance_page(error=FormError("announce", exc.field, exc.message), status=400)
    overview.deliver_soon(runtime, deliveries)
    return _done("done_announced", "dashboard.maintenance_page")


@dashboard.post("/maintenance/<int:maintenance_id>/cancel")
def cancel_maintenance(maintenance_id: int) -> BaseResponse | tuple[str, int]:
    person = _acting()
    if not isinstance(person, Actor):
        return person
    runtime = current_runtime()
    try:
        with transaction(runtime.sessions) as session:
            window = desk.cancel_maintenance(session, current_actor(), maintenance_id, now=runtime.clock())
            deliveries = overview.pending_deliveries(session, maintenance.maintenance_subject(window.id))
    except outages.NotFound:
        return _maintenance_page(error=FormError("cancel", None, f"no maintenance window {maintenance_id}"), status=404)
    except outages.Conflict as exc:
        return _maintenance_page(error=FormError("cancel", exc.field, exc.message), status=409)
    overview.deliver_soon(runtime, deliveries)
    return _done("done_cancelled", "dashboard.maintenance_page")
