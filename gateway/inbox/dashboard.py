"""The report as a page in the inbox (`/inbox/admin/report`, admins only): experiment results
with their intervals, the funnel and fallbacks over time, drawn server-side as SVG; and the
same report as JSON (`/inbox/api/report`) for a merchant's own tools."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, g, jsonify, render_template, request

from gateway.analytics.days import day_start
from gateway.context import Gateway
from gateway.inbox.auth import login_required
from gateway.inbox.blueprint import bp
from gateway.inbox.blueprint import current_inbox as _inbox

if TYPE_CHECKING:
    from gateway.analytics.report import Report

ADMINS = ("admin",)
CHARTS = (("conversion", "Conversion"), ("containment", "Containment"), ("csat", "CSAT (4-5)"))


def _report() -> Report:
    """Built per request. The statistics stack (statsmodels, scipy, pandas) is imported on the
    first report, not when a gateway process starts: webhooks and workers never need it."""
    from gateway.analytics.report import build_report

    gw: Gateway = current_app.extensions["gateway"]
    flow = gw.flows.flow
    since_text = request.args.get("since", "").strip()
    since = None
    if since_text:
        try:
            since = day_start(since_text)
        except ValueError:
            abort(400, f"'since' must be a date like 2026-11-01, not {since_text[:20]!r}")
    only = request.args.get("experiment") or None
    if only is not None and only not in flow.experiments:
        abort(404, f"no experiment {only[:60]!r} in flows.yaml")
    db = gw.analytics.reader()
    try:
        return build_report(db, flow.experiments, time.time(), since, only, tuple(flow.nodes))
    finally:
        db.close()


@bp.get("/admin/report")
@login_required(_inbox, roles=ADMINS)
def report_page() -> Any:
    from gateway.analytics.charts import columns_chart, funnel_chart, rate_chart
    from gateway.analytics.render import by_language, language_name
    from gateway.analytics.report import ALL

    report = _report()
    experiments = []
    for exp in report.experiments:
        overall = [r for r in exp.rows if r.channel == ALL]
        charts = [
            rate_chart(f"{title} per variant", [(r.variant, getattr(r, m)) for r in overall])
            for m, title in CHARTS
        ]
        experiments.append((exp, charts))
    flow_nodes = tuple(current_app.extensions["gateway"].flows.flow.nodes)
    return render_template(
        "inbox/report.html",
        agent=g.agent,
        report=report,
        experiments=experiments,
        funnel=funnel_chart(report.funnel, flow_nodes),
        fallbacks=columns_chart("Fallbacks per day", report.fallbacks_by_day),
        fallback_languages=[
            (language, language_name(language), phrases)
            for language, phrases in by_language(report.fallbacks)
        ],
        since=request.args.get("since", ""),
        names=tuple(current_app.extensions["gateway"].flows.flow.experiments),
        selected=request.args.get("experiment", ""),
        day=lambda ts: datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


@bp.get("/api/report")
@login_required(_inbox, api=True, roles=ADMINS)
def report_api() -> Any:
    from gateway.analytics.render import as_json

    return current_app.response_class(as_json(_report()), mimetype="application/json")


@bp.errorhandler(400)
def _bad_request(exc: Any) -> Any:
    if request.path.startswith("/inbox/api/"):
        return jsonify(error=str(getattr(exc, "description", exc))), 400
    return exc
