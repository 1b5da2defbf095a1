"""The ops dashboard's sign-in: pages under /ops/ for people with a password (see monitor.web.auth).

What is here is the plumbing a dashboard builds on: sign in (rate limited per client, the password
checked against its slow hash, the same answer and the same work for an unknown name and a wrong
password), sign out, and `signed_in()`, which every dashboard view calls first. Forms carry the CSRF
token the self-service forms use; each POST checks it before anything else.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from monitor.people.credentials import allows
from monitor.storage.enums import Role
from monitor.usecases import people
from monitor.usecases.audit import Actor
from monitor.web import auth
from monitor.web.context import current_runtime
from monitor.web.errors import error_response
from monitor.web.selfservice import csrf, limiter

dashboard = Blueprint("dashboard", __name__)

# Per client address; a person who forgot their password still has their API token.
SIGN_IN_LIMIT = "10/minute;100/hour"
WRONG = "The name or password is wrong."


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


@dashboard.get("/")
def home() -> BaseResponse | str:
    person = signed_in()
    if not isinstance(person, Actor):
        return person
    return render_template("dashboard/home.html", page=current_runtime().config.page, person=person)


def _sign_in_page(*, error: str | None = None, name: str = "", status: int = 200) -> tuple[str, int]:
    page = render_template("dashboard/sign_in.html", page=current_runtime().config.page, error=error, name=name)
    return page, status


@dashboard.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_LIMIT, methods=["POST"])
def sign_in() -> BaseResponse | tuple[str, int]:
    if request.method == "GET":
        return _sign_in_page()
    csrf.protect()
    name = request.form.get("name", "").strip()[:64]
    checked = people.check_password(current_runtime().sessions, name, request.form.get("password", ""))
    if checked is None:
        return _sign_in_page(error=WRONG, name=name, status=401)
    auth.sign_in(checked)
    return redirect(url_for("dashboard.home"), code=303)


@dashboard.post("/sign-out")
def sign_out() -> BaseResponse:
    csrf.protect()
    auth.sign_out()
    return redirect(url_for("dashboard.sign_in"), code=303)
