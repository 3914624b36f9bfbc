"""The inbox in the browser (`/inbox/`) and its JSON API (`/inbox/api/`), one blueprint.

Pages work as plain forms (POST, then redirect); `static/inbox.js` adds live updates,
canned answers and notifications. The API takes the same session and a CSRF header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import (
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
from gateway.inbox import dashboard  # noqa: F401  (adds the report's routes to the blueprint)
from gateway.inbox.auth import (
    LoginResult,
    check_login,
    end_session,
    locked,
    login_required,
    start_session,
    unlock,
)
from gateway.inbox.blueprint import bp
from gateway.inbox.blueprint import current_gateway as _gw
from gateway.inbox.blueprint import current_inbox as _inbox
from gateway.inbox.model import InboxError, Thread
from gateway.inbox.service import InboxService
from gateway.inbox.views import (
    messages_view,
    queue_view,
    read_refusal,
    thread_view,
)

csrf = CSRFProtect()
logger = logging.getLogger(__name__)
BURIED_SHOWN = 50  # buried messages listed on the admin page (`gateway buried` lists all)
CSP = ("default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")  # fmt: skip


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
        # The cookie's own lifetime; the store and the idle time end a session first.
        PERMANENT_SESSION_LIFETIME=int(min(gw.config.session_idle_s, gw.config.session_max_s)),
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


def _check_login(login: str, password: str) -> LoginResult:
    return check_login(_inbox(), _gw().config, login, password, request.remote_addr)


def _throttled(response: Response, result: LoginResult) -> tuple[Response, int]:
    response.headers["Retry-After"] = str(result.retry_after)
    return response, 429


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("inbox/login.html", error=None)
    result = _check_login(request.form.get("login", ""), request.form.get("password", ""))
    if result.agent is not None:
        start_session(_inbox(), result.agent, _gw().config)
        _inbox().set_on_duty(result.agent.login, True)
        target = request.args.get("next", "")
        return redirect(target if target.startswith("/inbox/") else url_for("inbox.queue"))
    answer = current_app.make_response(render_template("inbox/login.html", error=result.message))
    return _throttled(answer, result) if result.retry_after else (answer, 401)


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
    result = _check_login(str(body.get("login", "")), str(body.get("password", "")))
    agent = result.agent
    if result.retry_after:
        return _throttled(jsonify(error=result.message), result)
    if agent is None:
        return jsonify(error="wrong login or password"), 401
    start_session(_inbox(), agent, _gw().config)
    return jsonify(agent=agent.login, name=agent.display_name, csrf_token=generate_csrf())


# ---- pages ----


@bp.get("/")
@page
def queue() -> Any:
    view = queue_view(_gw(), g.agent, max(0, request.args.get("page", 0, type=int)))
    return render_template("inbox/queue.html", agent=g.agent, view=view)


def _refusal(thread: Thread) -> str | None:
    """Why the agent may not read this thread (see `read_refusal`), or None."""
    return read_refusal(g.agent, thread, _gw().config.shared_read)


@bp.get("/threads/<thread_id>")
@page
def thread(thread_id: str) -> Any:
    found = _inbox().thread(thread_id)
    if found is None:
        abort(404)
    refusal = _refusal(found)
    if refusal is not None:
        return render_template("inbox/forbidden.html", agent=g.agent, reason=refusal), 403
    view = thread_view(_gw(), g.agent, found, request.args.get("before", type=int))
    return render_template("inbox/thread.html", agent=g.agent, view=view)


@bp.get("/admin")
@login_required(_inbox, roles=("admin", "supervisor"))
def admin() -> Any:
    inbox, config = _inbox(), _gw().config
    rows = [(a, len(inbox.assigned_to(a.login)), locked(inbox, config, a.login))
            for a in inbox.agents()]  # fmt: skip
    outages = _gw().circuits.outages()
    buried = _gw().store.buried(BURIED_SHOWN)
    return render_template("inbox/admin.html", agent=g.agent, rows=rows, outages=outages,
                           buried=buried, buried_count=_gw().store.buried_count())  # fmt: skip


@bp.post("/admin/buried/<action>")
@login_required(_inbox, roles=("admin",))
def buried_action(action: str) -> Any:
    """Queue a buried message again, or drop it (admins only; logged with who did it)."""
    if action not in ("retry", "discard"):
        abort(404)
    conversation, buried_id = request.form.get("conversation", ""), request.form.get("id", "")
    store = _gw().store
    if action == "retry":
        done = store.retry_buried(conversation, buried_id, time.time())
    else:
        done = store.discard_buried(conversation, buried_id)
    if not done:
        flash("That message is no longer buried (another admin acted on it).", "error")
        return redirect(url_for("inbox.admin"))
    logger.warning("buried_message_%s: %s in %s by admin %r in the inbox", action, buried_id,
                   conversation, g.agent.login, extra={"kind": f"buried_{action}"})  # fmt: skip
    if action == "retry":
        _gw().turn_ready.set()
    flash("Queued again: the bot takes it now." if action == "retry" else "Discarded.")
    return redirect(url_for("inbox.admin"))


@bp.post("/admin/agents/<login>/unlock")
@login_required(_inbox, roles=("admin",))
def unlock_agent(login: str) -> Any:
    """Lift a lockout after failed logins (admins only; logged with who did it)."""
    if _inbox().agent(login) is None:
        abort(404)
    forgotten = unlock(_inbox(), login, by=f"admin {g.agent.login!r} in the inbox")
    flash(f"{login} unlocked ({forgotten} failed logins forgotten).")
    return redirect(url_for("inbox.admin"))


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
    if (refusal := _refusal(found)) is not None:
        return jsonify(error=refusal), 403
    return jsonify(thread_view(_gw(), g.agent, found, request.args.get("before", type=int)))


@bp.get("/api/threads/<thread_id>/messages")
@api
def api_messages(thread_id: str) -> Any:
    found = _inbox().thread(thread_id)
    if found is None:
        return jsonify(error="no such thread"), 404
    if (refusal := _refusal(found)) is not None:
        return jsonify(error=refusal), 403
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
