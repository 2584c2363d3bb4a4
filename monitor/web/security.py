"""Who may use the console, and what a browser may do with its pages.

- No password (the default, loopback only): everyone who can reach 127.0.0.1 may read and
  act, but only under a loopback Host name (a DNS-rebinding page cannot borrow the
  browser) and only with the page's CSRF token.
- A password ([web] password): a login form sets a signed session cookie; scripts, feed
  readers and Prometheus may send HTTP basic instead (any user name); an Atom feed also
  takes a per-feed `?token=` (an HMAC of its path), so a reader needs no password.
- Every state-changing request (POST) carries the session's CSRF token (form field
  `csrf_token` or header `X-CSRF-Token`), and a cross-site Origin is refused outright.
- Every answer carries a Content-Security-Policy with no inline script or style: article
  text is untrusted and escaped by the templates; the CSP is the second wall.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.webconfig import is_loopback

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Article links leave for outlets: they need not learn the console's address or a feed token.
    # (Not no-referrer: with it, browsers send `Origin: null` on the console's own form posts.)
    (b"referrer-policy", b"same-origin"),
]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/login"})
SESSION_COOKIE = "mm_session"


@dataclass(frozen=True)
class Access:
    """The console's keys: derived from the password, so sessions and feed tokens survive a
    restart and die with a password change; without a password, random per process."""

    password: str | None
    secret: bytes
    loopback_only: bool

    @classmethod
    def for_password(cls, password: str | None, loopback_only: bool) -> Access:
        if password:
            secret = hashlib.sha256(b"minerals-monitor console\0" + password.encode()).digest()
        else:
            secret = secrets.token_bytes(32)
        return cls(password=password, secret=secret, loopback_only=loopback_only)

    @property
    def session_key(self) -> str:
        return hmac.new(self.secret, b"session", hashlib.sha256).hexdigest()

    def password_ok(self, given: str) -> bool:
        return bool(self.password) and hmac.compare_digest(given.encode(), self.password.encode())

    def feed_token(self, path: str) -> str:
        return hmac.new(self.secret, b"feed:" + path.encode(), hashlib.sha256).hexdigest()[:32]

    def feed_token_ok(self, path: str, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.feed_token(path).encode())

    def basic_ok(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, given = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self.password_ok(given)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use; the session cookie carries it)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def logged_in(request: Request) -> bool:
    return bool(request.session.get("user"))


class SecurityHeaders:
    """Adds the security headers to every answer (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Gate:
    """Host check, authentication and the cross-site Origin check, before any handler runs.
    (The CSRF token is checked by the handlers' form reader, which has the body.)"""

    def __init__(self, app: ASGIApp, access: Access):
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        headers = request.headers
        if self.access.loopback_only and not _loopback_host(headers):
            return PlainTextResponse("this console answers only under a loopback host name (127.0.0.1, localhost)", 421)
        if request.method not in SAFE_METHODS and not _same_origin(headers):
            return PlainTextResponse("cross-site request refused", 403)
        path = request.url.path
        if not self.access.password or path in PUBLIC_PATHS or path.startswith("/static/"):
            return None
        if logged_in(request):
            return None
        if self.access.basic_ok(headers.get("authorization", "")):
            return None
        token = request.query_params.get("token")
        if token and path.startswith("/feeds/") and path.endswith(".atom") and self.access.feed_token_ok(path, token):
            return None
        if request.method == "GET" and _wants_html(headers) and not path.startswith(("/api/", "/feeds/", "/metrics")):
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
        return PlainTextResponse("authentication required", 401, headers={"WWW-Authenticate": 'Basic realm="minerals-monitor"'})


def _loopback_host(headers: Headers) -> bool:
    host = headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]")[0]
    return is_loopback(name)


def _same_origin(headers: Headers) -> bool:
    """No Origin (curl, old browsers: the CSRF token still guards) or the console's own."""
    origin = headers.get("origin")
    if origin is None:
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    if origin == "null":
        return False
    return urlsplit(origin).netloc == headers.get("host", "")


def _wants_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "")


def safe_next(target: str | None) -> str:
    """Where to go after login: a path of this console only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
