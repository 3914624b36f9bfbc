"""Security headers on every answer of the gateway: webhooks (the fast path too), health,
metrics, the inbox and every error.

A WSGI middleware rather than Flask's `after_request`, because webhook POSTs are answered by
`FastWebhooks` without Flask. Headers an answer already sets win (the inbox sets its own
Content-Security-Policy, and `Referrer-Policy: same-origin` so that a refused action can send
the agent back to the page they came from); the rest are added:

- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`;
- `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; ...` (nothing these
  JSON and text answers would need);
- `Strict-Transport-Security` only on https requests: `wsgi.url_scheme`, which is what
  `request.is_secure` reads, and which `ProxyFix` (outside this middleware, with TRUST_PROXY=1)
  sets from the load balancer's X-Forwarded-Proto.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy",
     "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
)  # fmt: skip


class SecurityHeaders:
    """WSGI middleware adding `HEADERS` (and `HSTS` on https) to every answer."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:  # fmt: skip
        secure = environ.get("wsgi.url_scheme") in ("https", "wss")

        def start(status: str, headers: list[tuple[str, str]], exc_info: object = None
                  ) -> object:  # fmt: skip
            present = {name.lower() for name, _ in headers}
            headers = headers + [h for h in HEADERS if h[0].lower() not in present]
            if secure and HSTS[0].lower() not in present:
                headers.append(HSTS)
            return start_response(status, headers, exc_info)  # type: ignore[arg-type]

        return self.app(environ, start)  # type: ignore[arg-type]
