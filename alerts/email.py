"""Email channel: one multipart (text + HTML) message per alert, over SMTP.

Messages are built with `email.message.EmailMessage` under `email.policy.SMTP`
(which refuses CR/LF in header values) from Jinja2 templates in
`alerts/templates/` with HTML autoescaping, so nothing an article says can add
a header or markup. SMTP runs with the standard library's `smtplib` in a worker
thread (`asyncio.to_thread`): one connection per message, so there is no
connection state to keep between alerts.

Every failure becomes `DeliveryError` with a message that says what failed
(DNS, connection refused, timeout, TLS handshake, authentication, or the SMTP
reply code and text) and never contains the password. SMTP 5xx replies and
authentication failures are permanent; 4xx replies and network/TLS trouble are
worth retrying.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import smtplib
import socket
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import jinja2

from alerts.exceptions import ChannelConfigError, DeliveryError
from alerts.render import (
    alert_view,
    clean_text,
    group_by_story,
    marked,
    one_line,
    subject_line,
    truncate,
    view_heading,
)
from storage.types import Alert

log = logging.getLogger(__name__)

SECURITY_MODES = ("none", "starttls", "tls")
TEMPLATES_DIR = Path(__file__).parent / "templates"
SEVERITY_COLOURS = {
    "critical": "#a50e0e",
    "high": "#d93025",
    "medium": "#e37400",
    "low": "#1a73e8",
    "info": "#5f6368",
}
DELIVERY_HEADER = "X-Minerals-Monitor-Delivery"
# Gmail clips a message whose HTML passes ~102 KB (the rest hides behind "View entire message"):
# a digest lists as many stories as fit under this and says how many more there are.
DIGEST_HTML_LIMIT = 95_000
MAX_OUTLETS_SHOWN = 20
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_MESSAGE_ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,127}")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@lru_cache(maxsize=None)
def _environment(autoescape: bool) -> jinja2.Environment:
    """The Jinja2 environment for HTML (autoescaped) or plain-text templates."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["marked"] = marked
    environment.globals["severity_colours"] = SEVERITY_COLOURS
    return environment


def _render(template: str, **context: object) -> str:
    autoescape = template.endswith(".html.j2")
    return _environment(autoescape).get_template(template).render(**context)


class EncodedSubject(str):
    """A Subject header we fold ourselves, as RFC 2047 encoded words that each carry their spaces.

    CPython's folder (gh-144156, not fixed in 3.11) drops the space between two words when it
    ends an encoded word, so an Urdu subject arrived with words run together ("معدنیاتکا").
    Here every space is inside an encoded word; the whitespace between encoded words, which
    readers ignore, is only the folding. The value is still the plain text (`message["Subject"]`).
    """

    name = "Subject"  # email.policy keeps a value with a matching `name` as it is and calls fold()

    def fold(self, *, policy) -> str:
        return f"Subject: {f'{policy.linesep} '.join(encoded_words(self))}{policy.linesep}"


_WORD_BYTES = 39  # base64: 52 characters, a word of 64: "Subject: " and the first one stay within 78


def encoded_words(text: str) -> list[str]:
    """`text` as base64 UTF-8 encoded words of at most 75 characters, cut between characters."""
    words, chunk = [], b""
    for char in text:
        encoded = char.encode("utf-8")
        if chunk and len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words]


def subject_header(subject: str) -> str:
    """The Subject value: as it is when ASCII (the standard folding keeps its spaces), else encoded by us."""
    return subject if subject.isascii() else EncodedSubject(subject)


def _fit_digest(context: dict, stories: int) -> tuple[int, str]:
    """The most stories whose digest HTML stays under DIGEST_HTML_LIMIT bytes, and that HTML."""
    html = _render("digest.html.j2", **context, shown=stories)
    if len(html.encode("utf-8")) <= DIGEST_HTML_LIMIT:
        return stories, html
    low, high = 1, stories - 1  # binary search: each render is a few milliseconds
    best = (1, _render("digest.html.j2", **context, shown=1))
    while low <= high:
        middle = (low + high) // 2
        candidate = _render("digest.html.j2", **context, shown=middle)
        if len(candidate.encode("utf-8")) <= DIGEST_HTML_LIMIT:
            best, low = (middle, candidate), middle + 1
        else:
            high = middle - 1
    return best


def _check_address(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ChannelConfigError(f"{what} must be a non-empty email address")
    if any(ch in value for ch in "\r\n\0"):
        raise ChannelConfigError(f"{what} must not contain line breaks: {value!r}")
    address = parseaddr(value)[1]
    if "@" not in address:
        raise ChannelConfigError(f"{what} is not an email address: {value!r}")
    return value.strip()


class EmailChannel:
    """Sends each alert as one email to a fixed list of recipients.

    security: "none" (plain SMTP, e.g. a local relay), "starttls" (upgrade on
    the submission port, usually 587) or "tls" (implicit TLS, usually 465).
    tls_context: the `ssl.SSLContext` to verify the server with (default: the
    system's trusted CAs); tests pass one that trusts their self-signed cert.
    clock: returns the current UTC time, for the Date header.
    """

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        sender: str,
        recipients: Sequence[str],
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] | None = None,
        console_url: str | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ChannelConfigError(
                f"email channel {name!r}: security must be one of {', '.join(SECURITY_MODES)}, not {security!r}"
            )
        if not host or any(ch in host for ch in "\r\n\0 "):
            raise ChannelConfigError(f"email channel {name!r}: host must be a host name or address")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ChannelConfigError(f"email channel {name!r}: port must be 1-65535, not {port!r}")
        if password and not username:
            raise ChannelConfigError(f"email channel {name!r}: a password is set but no username")
        if username and security == "none" and host not in LOOPBACK_HOSTS:
            # smtplib would send the password in clear text over the network.
            raise ChannelConfigError(
                f"email channel {name!r}: refusing to log in without TLS to {host}; use security 'starttls' or 'tls'"
            )
        if isinstance(recipients, str) or not recipients:
            raise ChannelConfigError(f"email channel {name!r}: recipients must be a non-empty list")
        if timeout <= 0:
            raise ChannelConfigError(f"email channel {name!r}: timeout must be positive")
        self.name = name
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.sender = _check_address(sender, f"email channel {name!r}: sender")
        self.recipients = [_check_address(r, f"email channel {name!r}: recipient") for r in recipients]
        self.timeout = float(timeout)
        self._tls_context = tls_context
        self._clock = clock or (lambda: datetime.now(UTC))
        self.console_url = console_url

    def __repr__(self) -> str:  # never shows the password
        return (
            f"EmailChannel({self.name!r}, host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, username={self.username!r}, recipients={self.recipients!r})"
        )

    # --- the Channel protocol -------------------------------------------------

    async def send(self, alert: Alert) -> None:
        """Send one alert; raises `DeliveryError` if the server did not accept it."""
        await self._transmit(self.build_message(alert))

    async def send_digest(self, title: str, alerts: Sequence[Alert]) -> None:
        """Send one message listing `alerts` grouped by rule (nothing is sent if empty)."""
        if not alerts:
            return
        await self._transmit(self.build_digest(title, alerts))

    async def aclose(self) -> None:
        """Nothing to release: every message uses its own SMTP connection."""

    # --- building messages ----------------------------------------------------

    def build_message(self, alert: Alert) -> EmailMessage:
        """The email for `alert`, ready to send (also used to preview a channel)."""
        view = alert_view(alert)
        subject = subject_line(alert)
        message = self._new_message(subject, self._message_id(alert.delivery.idempotency_key))
        message[DELIVERY_HEADER] = one_line(alert.delivery.idempotency_key)
        message["X-Minerals-Monitor-Rule"] = one_line(", ".join(alert.rule_ids))
        message["X-Minerals-Monitor-Severity"] = one_line(alert.hit.severity)
        context = {"v": view, "subject": subject, "heading": view_heading(view), "max_outlets": MAX_OUTLETS_SHOWN}
        message.set_content(_render("alert.txt.j2", **context))
        message.add_alternative(_render("alert.html.j2", **context), subtype="html")
        return message

    def build_digest(self, title: str, alerts: Sequence[Alert]) -> EmailMessage:
        """One email listing `alerts` grouped by story, most severe first, each story with every
        rule that fired; as many stories as fit under DIGEST_HTML_LIMIT, then how many more."""
        stories = group_by_story(alerts)
        total = len(alerts)
        title = one_line(clean_text(title)) or "Minerals Monitor digest"
        subject = truncate(f"{title} ({total} hit{'' if total == 1 else 's'}, {len(stories)} "
                           f"stor{'y' if len(stories) == 1 else 'ies'})", 200)
        # The same set of deliveries always gets the same Message-ID, so a
        # retried digest is recognisably the same message.
        keys = "\n".join(sorted(alert.delivery.idempotency_key for alert in alerts))
        digest_key = "digest-" + hashlib.sha256(keys.encode()).hexdigest()[:32]
        message = self._new_message(subject, self._message_id(digest_key))
        context = {"title": title, "stories": stories, "total": total, "subject": subject,
                   "console_url": self.console_url, "limit_kb": DIGEST_HTML_LIMIT // 1000}
        shown, html = _fit_digest(context, len(stories))
        message.set_content(_render("digest.txt.j2", **context, shown=shown))
        message.add_alternative(html, subtype="html")
        return message

    def _new_message(self, subject: str, message_id: str) -> EmailMessage:
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        # one_line() is the explicit guard; the SMTP policy would also refuse CR/LF.
        message["Subject"] = subject_header(one_line(clean_text(subject)))
        message["Date"] = format_datetime(self._clock().astimezone(UTC))
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders stay quiet
        return message

    def _message_id(self, key: str) -> str:
        """A Message-ID derived from the idempotency key: the same on every retry."""
        token = key if _MESSAGE_ID_TOKEN.fullmatch(key) else hashlib.sha256(key.encode()).hexdigest()[:40]
        domain = parseaddr(self.sender)[1].rpartition("@")[2]
        if not _DOMAIN.fullmatch(domain):
            domain = "minerals-monitor.invalid"
        return f"<{token}@{domain}>"

    # --- SMTP -----------------------------------------------------------------

    async def _transmit(self, message: EmailMessage) -> None:
        refused = await asyncio.to_thread(self._smtp_send, message)
        if refused:
            # Some recipients took the message and some did not. Retrying would
            # send it again to those who have it, so this counts as delivered.
            details = "; ".join(f"{rcpt}: {code} {_reply_text(text)}" for rcpt, (code, text) in refused.items())
            log.warning("email channel %s: some recipients refused the message: %s", self.name, details)

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        return self._tls_context

    def _smtp_send(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """Connect, secure, log in and send; runs in a worker thread."""
        stage = "connect"
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                stage = "connect (TLS)"
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                stage = "STARTTLS"
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"SMTP server {self._where} does not offer STARTTLS; use security 'none' or 'tls'",
                        permanent=True,
                    )
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.username:
                stage = "authentication"
                smtp.login(self.username, self._password or "")
            stage = "sending"
            return smtp.send_message(
                message,
                from_addr=parseaddr(self.sender)[1],
                to_addrs=[parseaddr(recipient)[1] for recipient in self.recipients],
            )
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as error:  # ssl.SSLError and socket errors are OSErrors
            raise self._delivery_error(error, stage) from error
        finally:
            if smtp is not None:
                _close_quietly(smtp)

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _delivery_error(self, error: smtplib.SMTPException | OSError, stage: str) -> DeliveryError:
        """Translate an smtplib/socket/ssl error into a DeliveryError with a precise, safe message."""
        where = self._where
        permanent = False
        if isinstance(error, smtplib.SMTPAuthenticationError):
            message = f"SMTP authentication as {self.username!r} at {where} failed: {_reply(error)}"
            permanent = True
        elif isinstance(error, smtplib.SMTPRecipientsRefused):
            refused = error.recipients
            message = f"SMTP server {where} refused every recipient: " + "; ".join(
                f"{rcpt}: {code} {_reply_text(text)}" for rcpt, (code, text) in refused.items()
            )
            permanent = all(code >= 500 for code, _ in refused.values())
        elif isinstance(error, smtplib.SMTPSenderRefused):
            message = f"SMTP server {where} refused sender {error.sender!r}: {_reply(error)}"
            permanent = error.smtp_code >= 500
        elif isinstance(error, smtplib.SMTPResponseException):
            message = f"SMTP server {where} answered {_reply(error)} during {stage}"
            permanent = error.smtp_code >= 500
        elif isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, TimeoutError):
            # smtplib reports a reply that never came as a disconnection.
            message = f"SMTP {stage} with {where} timed out after {self.timeout:g}s"
        elif isinstance(error, smtplib.SMTPServerDisconnected):
            message = f"SMTP server {where} closed the connection during {stage}"
        elif isinstance(error, smtplib.SMTPNotSupportedError):
            message = f"SMTP server {where} does not support {stage}: {error}"
            permanent = True
        elif isinstance(error, smtplib.SMTPException):
            message = f"SMTP {stage} with {where} failed: {error}"
            permanent = stage == "authentication"  # e.g. "No suitable authentication method found."
        elif isinstance(error, ssl.SSLCertVerificationError):
            reason = error.verify_message or error.reason
            message = f"TLS handshake with {where} failed: certificate not trusted ({reason})"
        elif isinstance(error, ssl.SSLError):
            message = f"TLS handshake with {where} failed: {error.reason or error}"
        elif isinstance(error, socket.gaierror):
            message = f"DNS lookup of SMTP host {self.host!r} failed: {error.strerror or error}"
        elif isinstance(error, ConnectionRefusedError):
            message = f"connection refused by SMTP server {where}"
        elif isinstance(error, TimeoutError):
            message = f"SMTP {stage} with {where} timed out after {self.timeout:g}s"
        else:
            message = f"network error during SMTP {stage} with {where}: {error.strerror or error}"
        # Unreachable as a whole (nothing to do with this message): the channel pauses and probes.
        unreachable = isinstance(error, (ssl.SSLError, socket.gaierror, ConnectionRefusedError)) or (
            isinstance(error, TimeoutError) and stage.startswith("connect"))
        return DeliveryError(self._redact(message), permanent=permanent, endpoint_down=unreachable)

    def _redact(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "***")
        return text


def _reply_text(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return truncate(one_line(text), 300)


def _reply(error: smtplib.SMTPResponseException) -> str:
    return f"{error.smtp_code} {_reply_text(error.smtp_error)}"


def _close_quietly(smtp: smtplib.SMTP) -> None:
    """Say QUIT politely; a failure here cannot undo a message already accepted."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
