"""The inbox in the browser (`/inbox/`) and its JSON API (`/inbox/api/`), one blueprint.

Pages work as plain forms (POST, then redirect); `static/inbox.js` adds live updates,
canned answers and notifications. The API takes the same session and a CSRF header.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from gateway.context import Gateway
from gateway.inbox.auth import end_session, login_required, start_session
from gateway.inbox.model import InboxError
from gateway.inbox.passwords import verify_password
from gateway.inbox.service import InboxService
from gateway.inbox.store import InboxStore
from gateway.inbox.views import messages_view, queue_view, shown_photo, thread_view

bp = Blueprint("inbox", __name__, url_prefix="/inbox", template_folder="templates",
               static_folder="static")  # fmt: skip
csrf = CSRFProtect()
bp.add_app_template_global(shown_photo, "shown_photo")  # the header's photo of the agent
CSP = ("default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")  # fmt: skip


def _gw() -> Gateway:
    return current_app.extensions["gateway"]


def _inbox() -> InboxStore:
    inbox = _gw().inbox
    assert inbox is not None
    return inbox


def _service() -> InboxService:
    return InboxService(_gw(), _inbox())


page = login_required(_inbox)
api = login_required(_inbox, api=True)


def init_app(app: Flask, gw: Gateway) -> None:
    """Mount the inbox; without SECRET_KEY it stays off (sessions could not be signed)."""
    if not app.config.get("SECRET_KEY"):
        return
    secure = (gw.config.public_base_url or "").startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_NAME="inbox_session",
        WTF_CSRF_CHECK_DEFAULT=False,  # webhooks are signed instead; the inbox checks below
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session, which expires on its own
    )
    csrf.init_app(app)
    app.register_blueprint(bp)


@bp.before_request
def _check_csrf() -> None:
    if request.method == "POST" and request.endpoint != "inbox.api_login":
        csrf.protect()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError) -> tuple[Response, int]:
    return jsonify(error=f"CSRF check failed: {exc.description}"), 400


@bp.errorhandler(InboxError)
def _refused(exc: InboxError) -> Any:
    if request.path.startswith("/inbox/api/"):
        return jsonify(error=str(exc)), 409
    flash(str(exc), "error")
    return redirect(request.referrer or url_for("inbox.queue"))


# ---- login ----


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        name, password = request.form.get("login", ""), request.form.get("password", "")
        agent = _inbox().agent(name.strip())
        if verify_password(agent.password_hash if agent else None, password) and agent:
            start_session(_inbox(), agent)
            _inbox().set_on_duty(agent.login, True)
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/inbox/") else url_for("inbox.queue"))
        error = "Wrong login or password."
    return render_template("inbox/login.html", error=error), 401 if error else 200


@bp.post("/logout")
@page
def logout() -> Any:
    _inbox().set_on_duty(g.agent.login, False)
    end_session(_inbox())
    return redirect(url_for("inbox.login"))


@bp.post("/api/login")
def api_login() -> Any:
    """JSON login for other helpdesks; JSON only, so a cross-site form cannot post it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error='send JSON: {"login": ..., "password": ...}'), 400
    agent = _inbox().agent(str(body.get("login", "")))
    if not (verify_password(agent.password_hash if agent else None, str(body.get("password", "")))
            and agent):  # fmt: skip
        return jsonify(error="wrong login or password"), 401
    start_session(_inbox(), agent)
    return jsonify(agent=agent.login, name=agent.display_name, csrf_token=generate_csrf())


# ---- pages ----


@bp.get("/")
@page
def queue() -> Any:
    view = queue_view(_gw(), g.agent, max(0, request.args.get("page", 0, type=int)))
    return render_template("inbox/queue.html", agent=g.agent, view=view)


@bp.get("/threads/<thread_id>")
@page
def thread(thread_id: str) -> Any:
    found = _inbox().thread(thread_id)
    if found is None:
        abort(404)
    view = thread_view(_gw(), g.agent, found, request.args.get("before", type=int))
    return render_template("inbox/thread.html", agent=g.agent, view=view)


@bp.get("/admin")
@login_required(_inbox, roles=("admin", "supervisor"))
def admin() -> Any:
    inbox = _inbox()
    rows = [(a, len(inbox.assigned_to(a.login))) for a in inbox.agents()]
    return render_template("inbox/admin.html", agent=g.agent, rows=rows)


def _act(action: str, thread_id: str, form: Callable[[str], str]) -> Any:
    service, agent, now = _service(), g.agent, time.time()
    if action == "claim":
        return service.claim(agent, thread_id, now)
    if action == "reply":
        return service.reply(agent, thread_id, form("text"), now)
    if action == "template":
        return service.send_template(agent, thread_id, now)
    if action == "note":
        return service.note(agent, thread_id, form("text"), now)
    if action == "transfer":
        return service.transfer(agent, thread_id, form("agent"), form("queue"), now)
    if action == "resolve":
        return service.resolve(agent, thread_id, form("outcome") or "solved", now)
    abort(404)


ACTIONS = ("claim", "reply", "template", "note", "transfer", "resolve")
DONE = {
    "claim": "Claimed: the shopper is told a person has joined.",
    "reply": "Sent.",
    "template": "Re-open template sent: when the shopper answers, you can write freely again.",
    "note": "Note saved (agents only).",
    "transfer": "Transferred.",
    "resolve": "Resolved: the bot takes over.",
}


def _done(action: str, thread_id: str) -> str:
    """What the agent is told after an action; a claim says so when "has joined" cannot go."""
    found = _inbox().thread(thread_id) if action == "claim" else None
    window = _service().window(found, time.time()) if found is not None else None
    if window is not None and not window.allowed:
        return f"Claimed, but the shopper cannot be told a person joined: {window.reason}."
    return DONE[action]


@bp.post("/threads/<thread_id>/<action>")
@page
def act(thread_id: str, action: str) -> Any:
    if action not in ACTIONS:
        abort(404)
    _act(action, thread_id, lambda name: request.form.get(name, ""))
    flash(_done(action, thread_id))
    if action in ("transfer", "resolve"):
        return redirect(url_for("inbox.queue"))
    return redirect(url_for("inbox.thread", thread_id=thread_id))


@bp.post("/duty")
@page
def duty() -> Any:
    _inbox().set_on_duty(g.agent.login, request.form.get("on_duty") == "1")
    return redirect(url_for("inbox.queue"))


# ---- JSON API ----


@bp.get("/api/queue")
@api
def api_queue() -> Any:
    return jsonify(queue_view(_gw(), g.agent, max(0, request.args.get("page", 0, type=int))))


@bp.get("/api/threads/<thread_id>")
@api
def api_thread(thread_id: str) -> Any:
    found = _inbox().thread(thread_id)
    if found is None:
        return jsonify(error="no such thread"), 404
    return jsonify(thread_view(_gw(), g.agent, found, request.args.get("before", type=int)))


@bp.get("/api/threads/<thread_id>/messages")
@api
def api_messages(thread_id: str) -> Any:
    found = _inbox().thread(thread_id)
    if found is None:
        return jsonify(error="no such thread"), 404
    return jsonify(messages_view(_gw(), found.conversation, request.args.get("before", type=int)))


@bp.post("/api/threads/<thread_id>/<action>")
@api
def api_act(thread_id: str, action: str) -> Any:
    if action not in ACTIONS:
        return jsonify(error=f"unknown action {action!r}"), 404
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    result = _act(action, thread_id, lambda name: str(body.get(name) or ""))
    found = _inbox().thread(thread_id)
    return jsonify(ok=True, status=found.status if found else None,
                   agent=found.agent if found else None, queued=result is None)  # fmt: skip


@bp.get("/api/updates")
@api
def api_updates() -> Any:
    """Cheap polling: the inbox version; the page refetches only when it moved."""
    version = _inbox().version()
    since = request.args.get("since", -1, type=int)
    return jsonify(version=version, changed=version != since, waiting=_inbox().count_waiting())


from gateway.inbox import dashboard as _dashboard  # noqa: E402,F401  (registers its routes)
