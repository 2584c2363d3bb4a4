"""Fixtures for the alert channels: real servers on 127.0.0.1, and an Alert factory.

- `smtp_server(...)`: an aiosmtpd server (plain, STARTTLS or implicit TLS with a
  self-signed certificate made here with `cryptography`), optional AUTH, and
  scripted refusals; received messages are parsed back with the email package.
- `webhook_receiver(...)`: an HTTP server that verifies Standard Webhooks
  signatures with the `standardwebhooks` library and answers from a script
  (fail N times then succeed, 410, 429 with Retry-After...).
- `make_alert(...)`: builds an `Alert` around the seed story, with the
  matched-term spans computed from the text so they are always right.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from storage.types import Alert, Article, Delivery, Hit, MatchedTerm, StoryMember

# --- the Alert factory -------------------------------------------------------------

SEED_TITLE = "Pakistan and US sign $500m critical minerals MoU"
SEED_SUMMARY = (
    "United States Strategic Metals (USSM) and Pakistan's Frontier Works Organisation (FWO) "
    "signed a memorandum covering exports of antimony, copper, gold, tungsten and rare earths, "
    "and a USSM poly-metallic refinery in Pakistan."
)
SEED_URL = "https://news.example.com/2025/09/pakistan-us-critical-minerals-mou"
SEED_PUBLISHED = datetime(2025, 9, 8, 9, 45, tzinfo=UTC)
HIT_CREATED = datetime(2025, 9, 8, 10, 20, 31, tzinfo=UTC)


def spans_of(word: str, text: str, field_name: str, term: str | None = None) -> list[MatchedTerm]:
    """Every occurrence of `word` in `text` as a MatchedTerm (spans index the original text)."""
    return [
        MatchedTerm(term=term or word, field=field_name, start=m.start(), end=m.end(), text=m.group())
        for m in re.finditer(re.escape(word), text)
    ]


def build_alert(
    *,
    title: str = SEED_TITLE,
    summary: str = SEED_SUMMARY,
    content: str = "",
    words: Sequence[str] = ("USSM", "antimony", "critical minerals"),
    terms: Sequence[MatchedTerm] | None = None,
    rule_id: str = "ussm-pakistan",
    rule_name: str = "USSM",
    severity: str = "high",
    key: str = "dlv-1042-ops",
    url: str = SEED_URL,
    feed_name: str = "Example News",
    published_at: datetime | None = SEED_PUBLISHED,
    also_reported_by: Sequence[StoryMember] = (),
    story_id: int | None = None,
    article_id: int = 1042,
) -> Alert:
    """An Alert for one hit; `words` are highlighted wherever they occur in title/summary/content."""
    if terms is None:
        found: list[MatchedTerm] = []
        for word in words:
            for field_name, text in (("title", title), ("summary", summary), ("content", content)):
                found.extend(spans_of(word, text, field_name))
        terms = found
    article = Article(
        feed_id=7,
        entry_key=url,
        url=url,
        title=title,
        summary=summary,
        link=url,
        content=content,
        published_at=published_at,
        id=article_id,
        feed_name=feed_name,
        first_seen_at=HIT_CREATED,
        story_id=story_id,
    )
    hit = Hit(
        rule_id=rule_id,
        article_id=article_id,
        severity=severity,
        terms=tuple(terms),
        rule_name=rule_name,
        id=article_id * 10,
        created_at=HIT_CREATED,
        story_id=story_id,
    )
    delivery = Delivery(
        id=article_id * 100,
        hit_id=hit.id or 0,
        channel="ops",
        status="pending",
        attempts=0,
        idempotency_key=key,
        created_at=HIT_CREATED,
    )
    return Alert(delivery=delivery, hit=hit, article=article, also_reported_by=tuple(also_reported_by))


def build_story_member(index: int, *, title: str | None = None, url: str | None = None) -> StoryMember:
    return StoryMember(
        article_id=2000 + index,
        url=url or f"https://outlet{index}.example.org/minerals-mou",
        title=title or f"Outlet {index}: Pakistan, US firm sign minerals deal",
        feed_name=f"Outlet {index}",
        published_at=SEED_PUBLISHED + timedelta(minutes=10 + index),
    )


@pytest.fixture
def make_alert() -> Callable[..., Alert]:
    """The Alert factory (see `build_alert` for the keyword arguments)."""
    return build_alert


@pytest.fixture
def story_member() -> Callable[..., StoryMember]:
    """Another outlet's copy of the story: story_member(index, title=..., url=...)."""
    return build_story_member


@pytest.fixture
def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- a self-signed certificate --------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    pem: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and nothing else)."""
        return ssl.create_default_context(cadata=self.pem)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1 (EC P-256: quick to make)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificate(cert_file=folder / "cert.pem", key_file=folder / "key.pem", pem=pem.decode())


# --- SMTP server ------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps what it receives; optional scripted refusals."""

    def __init__(self, *, rcpt_reply: str | None = None, data_reply: str | None = None) -> None:
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.envelopes: list[dict[str, object]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.content,
                "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": bool(session.authenticated),
            }
        )
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(e["content"], policy=default_policy) for e in self.envelopes]  # type: ignore[arg-type]


class _LocalController(Controller):
    """aiosmtpd Controller on 127.0.0.1 port 0: learns the port the OS chose."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox


def _authenticator(users: dict[str, str]):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    return authenticate


@pytest.fixture
def smtp_server(certificate: Certificate) -> Iterator[Callable[..., SmtpServer]]:
    """Start an SMTP server: smtp_server(security="none"|"starttls"|"tls", users={...}, **Mailbox kwargs)."""
    controllers: list[Controller] = []

    def start(security: str = "none", users: dict[str, str] | None = None, **replies: str) -> SmtpServer:
        mailbox = Mailbox(**replies)
        options: dict[str, object] = {}
        if security == "starttls":
            options.update(tls_context=certificate.server_context(), require_starttls=True)
        if users is not None:
            options.update(authenticator=_authenticator(users), auth_require_tls=security != "none")
        controller = _LocalController(
            mailbox,
            hostname="127.0.0.1",
            port=0,
            ssl_context=certificate.server_context() if security == "tls" else None,
            ready_timeout=5.0,
            **options,
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer(host="127.0.0.1", port=controller.port, mailbox=mailbox)

    yield start
    for controller in controllers:
        controller.stop()


# --- webhook receiver --------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: the receiver has no secret
    error: str | None = None


class Receiver:
    """Verifies each request's signature (when it has a secret), records it, answers from a script."""

    def __init__(self, secret: str | None, script: Sequence[Reply], default: Reply) -> None:
        self.secret = secret
        self.script = list(script)
        self.default = default
        self.requests: list[Received] = []
        self.url = ""
        self._lock = threading.Lock()

    def handle(self, headers: dict[str, str], body: bytes) -> Reply:
        verified: bool | None = None
        error = None
        if self.secret:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError as failure:
                verified, error = False, str(failure)
        with self._lock:
            index = len(self.requests)
            self.requests.append(Received(headers=headers, body=body, verified=verified, error=error))
        if verified is False:
            return Reply(401, body=b"signature rejected")
        return self.script[index] if index < len(self.script) else self.default


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _ReceiverServer
    # The status line, headers and body in one segment: written piecemeal they met the
    # client's delayed ACK (40 ms a request; the load test sends thousands).
    disable_nagle_algorithm = True
    wbufsize = -1

    def do_POST(self) -> None:  # noqa: N802 (http.server hook)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        reply = self.server.receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
        if reply.delay:
            time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test); nothing to answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `Receiver.requests` instead."""


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the listen backlog: a channel sends several at once under a backlog
    receiver: Receiver


@pytest.fixture
def reply() -> type[Reply]:
    """The receiver's answer type: reply(status, headers, body, delay=seconds)."""
    return Reply


@pytest.fixture
def webhook_receiver() -> Iterator[Callable[..., Receiver]]:
    """Start a receiver: webhook_receiver(secret=None, script=[Reply(...)...], default=Reply(204))."""
    running: list[tuple[_ReceiverServer, threading.Thread]] = []

    def start(secret: str | None = None, script: Sequence[Reply] = (), default: Reply = Reply()) -> Receiver:
        receiver = Receiver(secret, script, default)
        server = _ReceiverServer(("127.0.0.1", 0), _WebhookHandler)
        server.receiver = receiver
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/minerals?token=abc"
        return receiver

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def webhook_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 24 random bytes."""
    return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
