"""Public self-service, no sign-in: verify a letter, look up a case, ask for a paper-filing letter.

JSON under /api/v1/ for programs, and pages in English and French for people (the language from
`?lang=`, else the browser's preference). Every surface here is rate-limited per client
(`self_service.rate_limit`, verification by `self_service.verify_rate_limit`), with limits kept in
Redis in distributed mode so every gunicorn worker counts together, in memory when embedded. Forms
carry a CSRF token; the JSON API takes no cookies, so it needs none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from exemptions.letters import display, normalise
from monitor.usecases import letters as letter_use
from monitor.usecases.outages import InvalidInput
from monitor.usecases.selfservice import lookup_case, request_paper_filing
from monitor.web.context import current_runtime, db
from monitor.web.errors import error_response, wants_json
from monitor.web.texts import grouped, language, texts, when

selfservice = Blueprint("selfservice", __name__)
csrf = CSRFProtect()
NOT_FOUND_CASE = "No case matches this case number and access code."
MAX_UPLOAD = letter_use.MAX_PDF_BYTES


def _limit() -> str:
    return current_runtime().config.self_service.rate_limit


def _verify_limit() -> str:
    return current_runtime().config.self_service.verify_rate_limit


limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def init_app(app: Flask) -> None:
    runtime = app.extensions["portalwatch"]
    app.config["SECRET_KEY"] = runtime.secret_key()
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # only the forms below are checked; the JSON API has no cookies
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    app.config["RATELIMIT_STORAGE_URI"] = runtime.settings.redis or "memory://"
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    app.config["RATELIMIT_KEY_PREFIX"] = f"portalwatch:{runtime.config.page.id}"
    csrf.init_app(app)
    limiter.init_app(app)
    app.register_blueprint(selfservice)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Response:
        # The page the person was on speaks their language; so does this answer.
        lang = language()
        if wants_json():
            return error_response(400, "csrf", texts(lang)["form_expired"])
        page = render_template(
            "selfservice/error.html",
            t=texts(lang),
            lang=lang,
            page=current_runtime().config.page,
            message=texts(lang)["form_expired"],
            when=when,
            grouped=grouped,
        )
        return Response(page, status=400, mimetype="text/html")


@selfservice.after_request
def _vary(response: Response) -> Response:
    # A page's language may come from Accept-Language: a shared cache must keep one copy per language.
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
    return response


# --- verification ----------------------------------------------------------------------------------


def _not_found_json(code: str) -> Response:
    response = jsonify(
        {"valid": False, "error": "not_found", "message": "no letter was issued with this code", "code": code[:32]}
    )
    response.status_code = 404
    return response


@selfservice.get("/api/v1/verify/<code>")
@limiter.limit(_verify_limit)
def verify_json(code: str) -> Response:
    shown = letter_use.verification(db(), code, current_runtime().config.page)
    if shown is None:
        return _not_found_json(code)
    response = jsonify(shown)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@selfservice.post("/api/v1/verify")
@limiter.limit(_verify_limit)
def verify_file_json() -> Response:
    body = request.get_data(cache=False)
    if not body:
        return error_response(422, "invalid_body", "send the PDF file as the request body", field="body")
    if len(body) > MAX_UPLOAD:
        return error_response(413, "too_large", f"a letter is far smaller than {MAX_UPLOAD // (1024 * 1024)} MiB")
    checked = letter_use.check_file(current_runtime(), db(), body)
    payload: dict[str, Any] = {
        "genuine": checked.genuine,
        "reason": checked.reason,
        "sha256": checked.sha256,
        "claimed_code": checked.claimed_code,
        "letter": None
        if checked.letter is None
        else letter_use.verification_json(db(), checked.letter, current_runtime().config.page),
    }
    return jsonify(payload)


@selfservice.get("/letters/<code>.pdf")
@limiter.limit(_verify_limit)
def letter_pdf(code: str) -> Response:
    pdf = letter_use.letter_pdf(db(), code)
    if pdf is None:
        return error_response(404, "not_found", "no letter was issued with this code")
    canonical = normalise(code) or code
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="letter-{canonical}.pdf"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@selfservice.get("/letters/signing-certificate.pem")
def signing_certificate() -> Response:
    """The certificate letters are signed with, so anyone can check a letter's signature with their own tools."""
    signer = current_runtime().signer()
    response = Response(signer.certificate_pem(), mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = 'inline; filename="portalwatch-letters.pem"'
    response.headers["X-Certificate-SHA256"] = signer.certificate_sha256()
    return response


@selfservice.route("/verify", methods=["GET", "POST"])
@limiter.limit(_verify_limit, methods=["POST"])
def verify_form() -> str | BaseResponse:
    lang = language()
    if request.method == "POST":
        csrf.protect()
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            body = upload.read(MAX_UPLOAD + 1)
            checked = letter_use.check_file(current_runtime(), db(), body[:MAX_UPLOAD])
            return render_template(
                "selfservice/file_check.html",
                t=texts(lang),
                lang=lang,
                checked=checked,
                letter=None
                if checked.letter is None
                else letter_use.verification_json(db(), checked.letter, current_runtime().config.page),
                page=current_runtime().config.page,
                when=when,
                grouped=grouped,
            )
        code = normalise(request.form.get("code", ""))
        if code is None:
            return render_template(
                "selfservice/verify_form.html",
                t=texts(lang),
                lang=lang,
                error=texts(lang)["code_malformed"],
                page=current_runtime().config.page,
                when=when,
                grouped=grouped,
            ), 422  # type: ignore[return-value]
        return redirect(url_for("selfservice.verify_page", code=code, lang=lang), code=303)
    return render_template(
        "selfservice/verify_form.html",
        t=texts(lang),
        lang=lang,
        error=None,
        page=current_runtime().config.page,
        when=when,
        grouped=grouped,
    )


@selfservice.get("/verify/<code>")
@limiter.limit(_verify_limit)
def verify_page(code: str) -> tuple[str, int]:
    lang = language()
    info = letter_use.verification(db(), code, current_runtime().config.page)
    return (
        render_template(
            "selfservice/verify.html",
            t=texts(lang),
            lang=lang,
            code=code,
            display_code=display(normalise(code) or "") if normalise(code) else code[:32],
            letter=info,
            page=current_runtime().config.page,
            when=when,
            grouped=grouped,
        ),
        200 if info is not None else 404,
    )


# --- applicants ------------------------------------------------------------------------------------


@selfservice.post("/api/v1/cases/lookup")
@limiter.limit(_limit)
def case_lookup_json() -> Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        payload = {}
    found = lookup_case(current_runtime(), db(), payload.get("case_id"), payload.get("access_code"))
    if found is None:
        # One body for an unknown case and a wrong code: nothing tells them apart.
        return error_response(404, "not_found", NOT_FOUND_CASE)
    response = jsonify(found)
    response.headers["Cache-Control"] = "no-store"
    return response


@selfservice.route("/case", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def case_page() -> tuple[str, int]:
    lang = language()
    found = None
    error = None
    status = 200
    if request.method == "POST":
        csrf.protect()
        found = lookup_case(
            current_runtime(), db(), request.form.get("case_id", "").strip(), request.form.get("access_code", "")
        )
        if found is None:
            error, status = texts(lang)["case_not_found"], 404
    return (
        render_template(
            "selfservice/case.html",
            t=texts(lang),
            lang=lang,
            case=found,
            error=error,
            page=current_runtime().config.page,
            when=when,
            grouped=grouped,
        ),
        status,
    )


# --- employers and representatives -----------------------------------------------------------------


@selfservice.post("/api/v1/paper-filing-requests")
@limiter.limit(_limit)
def paper_filing_json() -> Response:
    payload = request.get_json(silent=True)
    if payload is None:
        return error_response(
            422,
            "invalid_body",
            "send a JSON object with component, attempted_at, organisation, email, language",
            field="body",
        )
    try:
        answer = request_paper_filing(current_runtime(), payload)
    except InvalidInput as exc:
        return error_response(422, "invalid_field", exc.message, field=exc.field)
    response = jsonify(answer.body)
    response.status_code = answer.status
    response.headers["Cache-Control"] = "no-store"
    return response


@selfservice.route("/paper-filing", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def paper_filing_page() -> tuple[str, int]:
    lang = language()
    runtime = current_runtime()
    components = [{"id": c.id, "name": c.name} for c in runtime.config.components]
    answer = None
    error: dict[str, str] | None = None
    status = 200
    form = {key: request.form.get(key, "") for key in ("component", "attempted_at", "organisation", "email")}
    if request.method == "POST":
        csrf.protect()
        payload = {
            **form,
            "attempted_at": _with_zone(
                form["attempted_at"], request.form.get("time_zone") or runtime.config.page.time_zone
            ),
            "language": request.form.get("language", lang),
        }
        try:
            result = request_paper_filing(runtime, payload)
        except InvalidInput as exc:
            error, status = {"field": exc.field, "message": exc.message}, 422
        else:
            answer, status = result.body, result.status
    return (
        render_template(
            "selfservice/paper_filing.html",
            t=texts(lang),
            lang=lang,
            components=components,
            form=form,
            answer=answer,
            error=error,
            page=runtime.config.page,
            when=when,
            grouped=grouped,
        ),
        status,
    )


def _with_zone(value: str, zone: str) -> str:
    """A browser's `datetime-local` value has no offset: it means the wall clock of the zone chosen beside it."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # the use case names the field and says how to write it
    if moment.tzinfo is not None:
        return text
    try:
        return moment.replace(tzinfo=ZoneInfo(zone)).isoformat()
    except (ZoneInfoNotFoundError, ValueError):
        return text
