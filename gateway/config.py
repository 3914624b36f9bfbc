"""The gateway's settings, read once from the environment (names as in DESIGN.md).

Secrets stay in `env` (handed to the adapters) and never appear in `repr`, logs or errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.redaction import DEFAULT_HISTORY, history_kinds

DEFAULT_STORE = "sqlite:///var/gateway.db"
SECRET_NAMES = frozenset(
    {
        "TWILIO_AUTH_TOKEN", "MESSENGER_APP_SECRET", "MESSENGER_PAGE_TOKEN",
        "MESSENGER_VERIFY_TOKEN", "TELEGRAM_BOT_TOKEN", "TELEGRAM_SECRET_TOKEN", "SECRET_KEY",
    }
)  # fmt: skip

# Every variable `gateway serve --help` lists, with what it means.
VARIABLES: dict[str, str] = {
    "FLOWS_PATH": "the flows file (default flows.yaml)",
    "STORE_URL": f"sqlite:///path.db or redis://host:port/db (default {DEFAULT_STORE})",
    "PUBLIC_BASE_URL": "the URL platforms call, for Twilio's signature (https://bot.shop.example)",
    "TRUST_PROXY": "1 to honour X-Forwarded-Proto/Host from the load balancer in front",
    "TWILIO_ACCOUNT_SID": "WhatsApp through Twilio: account SID",
    "TWILIO_AUTH_TOKEN": "WhatsApp through Twilio: auth token (secret)",
    "TWILIO_WHATSAPP_FROM": "WhatsApp through Twilio: the sender, whatsapp:+1...",
    "TWILIO_QUICK_REPLY_CONTENT_SIDS": "optional quick-reply templates, 1=HX...,2=HX...,3=HX...",
    "TWILIO_REOPEN_CONTENT_SID": "optional approved re-open template (HX...) for agents after 24 h",
    "TWILIO_CSAT_CONTENT_SID": "optional approved 1-5 rating template (HX...) for late resolves",
    "MESSENGER_APP_SECRET": "Messenger: app secret (signs webhooks; secret)",
    "MESSENGER_PAGE_TOKEN": "Messenger: page access token (secret)",
    "MESSENGER_VERIFY_TOKEN": "Messenger: webhook verify token (secret)",
    "MESSENGER_PAGE_ID": "Messenger: the page's id (optional: asked with the page token once)",
    "GRAPH_API_VERSION": "Messenger: Graph API version (default 25.0)",
    "TELEGRAM_BOT_TOKEN": "Telegram: bot token (secret)",
    "TELEGRAM_SECRET_TOKEN": "Telegram: the webhook's secret_token (secret)",
    "TWILIO_API_BASE_URL": "where the Twilio client sends (unset: the real Twilio)",
    "GRAPH_API_BASE_URL": "where the Graph client sends (unset: the real Graph API)",
    "TELEGRAM_API_BASE_URL": "where the Telegram client sends (unset: the real Bot API)",
    "PORT": "web port (default 8080)",
    "WORKERS": "worker threads per process (default 4)",
    "SECRET_KEY": "signs inbox sessions (secret)",
    "IDLE_EXPIRY_S": "idle conversations start fresh after this many seconds (default 86400)",
    "REDACT_PATTERNS": "extra regexes whose matches are redacted in history, separated by ;;",
    "REDACT_HISTORY": "what history redacts: cards,iban,national_id (default), also email,phone",
    "GATEWAY_INLINE_WORKERS": "1: gunicorn web processes also run worker threads (image default)",
    "SHOP_API_URL": "the shop's own API, if flows.yaml names it under env:",
    "LEASE_S": "seconds a worker holds a message before another may retry it (default 30)",
    "MAX_QUEUE": "queued shopper messages at which webhooks are answered 503 with Retry-After "
    "(default 50000; 0: never)",
    "REQUEST_TIMEOUT_S": "seconds a connection may stall before `gateway serve` closes it "
    "(default 10)",
    "MAX_TURN_ATTEMPTS": "tries of a shopper message whose turn keeps failing before it is buried "
    "for an operator (`gateway buried`; default 5)",
    "SEND_OVERLAP": "1: a turn worker runs its next turn while the platform answers its reply "
    "(default: more turns a second on both stores), 0: it waits for the answer (slower; a "
    "crash leaves fewer replies unrecorded, which Telegram alone may then get twice)",
    "SEND_RETRY_BUDGET_S": "seconds a reply is retried through a platform outage before it is "
    "dead-lettered (default 3600)",
    "LOG_LEVEL": "INFO (default), DEBUG, WARNING (client libraries: INFO at least, never text)",
    "INBOX_AUTO_ASSIGN": "1: new threads go to the least busy agent on duty (default: claimed)",
    "INBOX_REOPEN_S": "seconds after a resolve in which a shopper's message reopens it (0: off)",
    "INBOX_SESSION_IDLE_S": "inbox sessions end after this many seconds idle (default 43200)",
    "INBOX_SESSION_MAX_S": "inbox sessions end this many seconds after login (default 604800)",
    "INBOX_LOGIN_FAILURES": "failed inbox logins per account in the window before 429 (5; 0: off)",
    "INBOX_LOGIN_ADDRESS_FAILURES": "failed inbox logins per client address (20; 0: off)",
    "INBOX_LOGIN_WINDOW_S": "seconds failed inbox logins count for (default 900)",
    "INBOX_SHARED_READ": "1: every agent may read threads others claimed (default: holder only)",
    "ANALYTICS_URL": "sqlite:///path.db for the report's tables (default: beside the store)",
    "SHOP_COUNTRY": "ISO country code (DE, US...) national phone numbers in imported calls are "
    "read in (default unset: only international ones, +49... or 0049..., are accepted)",
}


@dataclass(frozen=True)
class Config:
    flows_path: Path = Path("flows.yaml")
    store_url: str = DEFAULT_STORE
    public_base_url: str | None = None
    trust_proxy: bool = False
    port: int = 8080
    workers: int = 4
    idle_expiry_s: float = 86_400.0
    dedupe_ttl_s: float = 7 * 86_400.0
    lease_s: float = 30.0
    send_retry_budget_s: float = 3600.0
    request_timeout_s: int = 10  # a stalled request body or idle connection, then closed
    max_queue: int = 50_000  # queued messages at which webhooks are shed (503, Retry-After)
    max_body_bytes: int = 1024 * 1024
    max_turn_attempts: int = 5
    # A turn worker's reply is answered while its next turn runs, and recorded with the commit
    # after: it pays on both stores (docs/performance.md), and leaves about twice as many
    # replies unrecorded at a crash, which Telegram, the one platform that cannot be asked,
    # then gets twice.
    send_overlap: bool = True
    redact_patterns: tuple[str, ...] = ()
    redact_history: tuple[str, ...] = DEFAULT_HISTORY  # cards are redacted whatever it says
    log_level: str = "INFO"
    auto_assign: bool = False  # give new threads to the least busy agent on duty
    reopen_s: float = 0.0  # a shopper writing this soon after a resolve goes back to a person
    analytics_url: str | None = None  # None: a file beside the SQLite store (see analytics)
    session_idle_s: float = 12 * 3600.0  # inbox: no activity this long ends a session
    session_max_s: float = 7 * 86_400.0  # inbox: no session lives longer, active or not
    login_failures: int = 5  # inbox: failed logins per account within the window, then 429
    login_address_failures: int = 20  # inbox: the same per client address
    login_window_s: float = 900.0
    shared_read: bool = False  # inbox: every agent may read threads others claimed
    # The country a call's national number ("0151 ...") is read in. Unset by default: a wrong
    # guess would join calls to strangers' arms silently, a refused row says what to set.
    shop_country: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # secrets live here

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = dict(os.environ if environ is None else environ)
        patterns = tuple(p for p in env.get("REDACT_PATTERNS", "").split(";;") if p.strip())
        store_url = env.get("STORE_URL") or DEFAULT_STORE
        return cls(
            flows_path=Path(env.get("FLOWS_PATH") or "flows.yaml"),
            store_url=store_url,
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            trust_proxy=env.get("TRUST_PROXY", "") in ("1", "true", "yes"),
            port=_int(env, "PORT", 8080),
            workers=max(1, _int(env, "WORKERS", 4)),
            idle_expiry_s=float(_int(env, "IDLE_EXPIRY_S", 86_400)),
            lease_s=float(max(1, _int(env, "LEASE_S", 30))),
            send_retry_budget_s=float(max(1, _int(env, "SEND_RETRY_BUDGET_S", 3600))),
            request_timeout_s=max(1, _int(env, "REQUEST_TIMEOUT_S", 10)),
            max_queue=max(0, _int(env, "MAX_QUEUE", 50_000)),
            max_turn_attempts=max(1, _int(env, "MAX_TURN_ATTEMPTS", 5)),
            send_overlap=_flag(env, "SEND_OVERLAP", default=True),
            redact_patterns=patterns,
            redact_history=history_kinds(env.get("REDACT_HISTORY")),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            auto_assign=env.get("INBOX_AUTO_ASSIGN", "") in ("1", "true", "yes"),
            reopen_s=float(max(0, _int(env, "INBOX_REOPEN_S", 0))),
            analytics_url=env.get("ANALYTICS_URL") or None,
            session_idle_s=float(max(1, _int(env, "INBOX_SESSION_IDLE_S", 12 * 3600))),
            session_max_s=float(max(1, _int(env, "INBOX_SESSION_MAX_S", 7 * 86_400))),
            login_failures=max(0, _int(env, "INBOX_LOGIN_FAILURES", 5)),
            login_address_failures=max(0, _int(env, "INBOX_LOGIN_ADDRESS_FAILURES", 20)),
            login_window_s=float(max(1, _int(env, "INBOX_LOGIN_WINDOW_S", 900))),
            shared_read=env.get("INBOX_SHARED_READ", "") in ("1", "true", "yes"),
            shop_country=_country(env.get("SHOP_COUNTRY", "")),
            env=env,
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not a whole number; set it like {name}={default}"
        ) from None


def _country(raw: str) -> str | None:
    code = raw.strip().upper()
    if not code:
        return None
    if len(code) != 2 or not code.isalpha():
        raise ValueError(f"SHOP_COUNTRY={raw!r} is not an ISO country code; set it like DE or US")
    return code


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r} is neither on nor off; set it like {name}=1 or {name}=0")
