"""Webhook channel: POST one signed JSON body per alert (Standard Webhooks).

Every request carries the Standard Webhooks headers:

- `webhook-id`: the delivery's idempotency key, the same on every retry, so a
  receiver can drop duplicates (DESIGN.md decision 5);
- `webhook-timestamp`: Unix seconds when this attempt was signed;
- `webhook-signature`: `v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>`
  keyed with the base64-decoded secret after `whsec_`, computed by the
  `standardwebhooks` reference library, so `Webhook(secret).verify(body, headers)`
  passes on the receiving side. Without a secret the id and timestamp are
  still sent, unsigned.

The body is our `hit.created` event (format "json", see
docs/webhook-payload.schema.json) or a Slack, Discord or Teams message
(`alerts/payload.py`).

Outcomes: 2xx is delivered. 410 means the endpoint is gone (permanent).
408, 429 and 5xx are worth retrying, honouring Retry-After (seconds or an
HTTP date). Redirects and other 4xx are permanent: the configuration needs a
fix. Network trouble (DNS, refused, TLS, timeouts) is retryable. Error
messages name the status and the first 200 bytes of the answer but never the
secret, the custom header values or the URL's path (chat webhook URLs carry
their token there).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from math import floor
from typing import Callable, Mapping
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from alerts.digest import DigestPart, digest_parts
from alerts.exceptions import ChannelConfigError, DeliveryError
from alerts.payload import FORMATS, build_payload
from alerts.render import display_host, one_line
from storage.types import Alert

USER_AGENT = "minerals-monitor/0.1 (+alerts webhook)"
SECRET_PREFIX = "whsec_"
BODY_EXCERPT_BYTES = 200
TOTAL_TIMEOUT_GRACE = 1.0  # seconds beyond `timeout` allowed for the whole exchange
RETRYABLE_STATUSES = frozenset({408, 429})
SEND_AT_ONCE = 8  # requests in flight when a backlog waits (alerts/dispatch.py); receivers take them in parallel
# Headers the channel sets itself; configured headers may not replace them.
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
RESERVED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length"})


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP-date.

    None when absent or unreadable; never negative (a date in the past means now).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELAY_SECONDS.fullmatch(value):  # RFC 9110 says integer; some services send "1.5"
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC without saying so
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _signer(secret: str, channel: str) -> Webhook:
    """A Standard Webhooks signer for `secret`; a config error (without the secret) if unusable."""
    key = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        decoded = base64.b64decode(key + "=" * (-len(key) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ChannelConfigError(
            f"webhook channel {channel!r}: the secret is not base64 after '{SECRET_PREFIX}'"
        ) from None
    if len(decoded) < 16:
        raise ChannelConfigError(
            f"webhook channel {channel!r}: the secret is too short ({len(decoded)} bytes; use 24 to 64 random bytes)"
        )
    return Webhook(secret)


class WebhookChannel:
    """POSTs each alert to one URL, signed per Standard Webhooks when a secret is set.

    format: "json" (our `hit.created` event), "slack", "discord" or "teams".
    headers: extra request headers (e.g. an Authorization); values are secret:
        they are never logged nor put in error messages.
    client: an `httpx.AsyncClient` to share (the channel leaves it open). Without one, each
        request goes straight to `transport` (default: httpx's own), which the channel closes:
        httpx's client layer (URL merging, cookies, auth and redirect flows) was a third of the
        CPU of a POST under a backlog, and monitor/channels.py gives the aiohttp transport
        (httpcore's pool cost ~2 ms of CPU per request; bench/bench_delivery.py).
    clock: returns the current UTC time (for `webhook-timestamp` and Retry-After dates).
    """

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: str | None = None,
        format: str = "json",
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChannelConfigError(f"webhook channel {name!r}: url must be an http(s) URL")
        if format not in FORMATS:
            raise ChannelConfigError(
                f"webhook channel {name!r}: format must be one of {', '.join(FORMATS)}, not {format!r}"
            )
        if timeout <= 0:
            raise ChannelConfigError(f"webhook channel {name!r}: timeout must be positive")
        extra: dict[str, str] = {}
        for key, value in (headers or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ChannelConfigError(f"webhook channel {name!r}: header names and values must be strings")
            if key.lower() in RESERVED_HEADERS:
                raise ChannelConfigError(f"webhook channel {name!r}: header {key!r} is set by the channel itself")
            if any(ch in key + value for ch in "\r\n\0"):
                raise ChannelConfigError(f"webhook channel {name!r}: header {key!r} contains a line break")
            extra[key.lower()] = value  # header names are case-insensitive; one entry per name
        self.name = name
        self.send_at_once = SEND_AT_ONCE
        self.url = url
        self.format = format
        self.timeout = float(timeout)
        self._signer = _signer(secret, name) if secret else None
        self._secret = secret
        self._headers = extra
        self._client = client
        self._transport = transport or httpx.AsyncHTTPTransport() if client is None else None
        self._request_url = httpx.URL(url)  # parsed once
        self._timeouts = {"connect": self.timeout, "read": self.timeout, "write": self.timeout, "pool": self.timeout}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._host = display_host(url)

    def __repr__(self) -> str:  # the URL path, secret and header values stay out of logs
        return f"WebhookChannel({self.name!r}, url={self._host + '/…'!r}, format={self.format!r}, signed={self.signed})"

    @property
    def signed(self) -> bool:
        return self._signer is not None

    # --- the Channel protocol -------------------------------------------------

    async def send(self, alert: Alert) -> None:
        """POST `alert`; raises `DeliveryError` unless the endpoint answers 2xx."""
        body = self.render_body(alert)
        headers = self.sign(alert.delivery.idempotency_key, body)
        await self._post(body, headers)

    def digest_parts(self, title: str, alerts: list[Alert]) -> list[DigestPart]:
        """A digest as the few messages this channel's format needs (alerts/digest.py)."""
        return digest_parts(self.format, title, alerts)

    async def send_digest_part(self, part: DigestPart) -> None:
        """POST one part of a digest, with its own stable webhook-id."""
        body = json.dumps(part.body, ensure_ascii=False, separators=(",", ":"))
        await self._post(body, self.sign(part.key, body))

    async def aclose(self) -> None:
        """Close the HTTP client if this channel made it."""
        if self._transport is not None:
            await self._transport.aclose()

    # --- building the request -------------------------------------------------

    def render_body(self, alert: Alert) -> str:
        """The exact JSON text sent (and signed) for `alert`."""
        return json.dumps(build_payload(alert, self.format), ensure_ascii=False, separators=(",", ":"))

    def sign(self, webhook_id: str, body: str) -> dict[str, str]:
        """All request headers for one attempt: configured ones plus the Standard Webhooks set."""
        timestamp = floor(self._clock().timestamp())
        headers = {
            **self._headers,
            "user-agent": self._headers.get("user-agent", USER_AGENT),
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._signer is not None:
            headers["webhook-signature"] = self._signer.sign(
                msg_id=webhook_id, timestamp=datetime.fromtimestamp(timestamp, UTC), data=body
            )
        return headers

    # --- sending --------------------------------------------------------------

    async def _post(self, body: str, headers: dict[str, str]) -> None:
        try:
            # httpx limits each phase (connect, write, read) and says which one
            # stalled; this caps the whole exchange, e.g. an answer that trickles in.
            async with asyncio.timeout(self.timeout + TOTAL_TIMEOUT_GRACE):
                async with self._stream(body.encode("utf-8"), headers) as response:
                    if 200 <= response.status_code < 300:
                        await _drain(response)  # a fully read answer leaves the connection reusable
                        return
                    excerpt = await _read_excerpt(response)
        except httpx.HTTPError as error:
            raise self._transport_error(error) from error
        except TimeoutError as error:  # asyncio.timeout: the whole exchange took too long
            raise DeliveryError(
                f"webhook {self._host} gave no complete answer within {self.timeout + TOTAL_TIMEOUT_GRACE:g}s"
            ) from error
        raise self._status_error(response, excerpt)

    @asynccontextmanager
    async def _stream(self, content: bytes, headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """The response to one POST, its body not read yet."""
        if self._client is not None:
            async with self._client.stream("POST", self.url, content=content, headers=headers,
                                           timeout=self.timeout) as response:
                yield response
            return
        request = httpx.Request("POST", self._request_url, content=content, headers=headers,
                                extensions={"timeout": self._timeouts})
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            yield response
        finally:
            await response.aclose()

    def _status_error(self, response: httpx.Response, excerpt: bytes) -> DeliveryError:
        status = response.status_code
        text = self._redact(one_line(excerpt.decode("utf-8", "replace")))
        said = f": {text}" if text else ""
        if status == 410:
            return DeliveryError(f"endpoint gone (410) at {self._host}{said}", permanent=True)
        if status in RETRYABLE_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
            wait = f" (Retry-After {retry_after:g}s)" if retry_after is not None else ""
            return DeliveryError(
                f"webhook {self._host} answered HTTP {status} {response.reason_phrase}{wait}{said}",
                retry_after=retry_after,
                slow_down=status == 429,
            )
        if 300 <= status < 400:
            target = response.headers.get("location")
            where = f" to {display_host(target)}" if target else ""
            return DeliveryError(
                f"webhook {self._host} answered a redirect (HTTP {status}){where}; redirects are not followed, "
                "update the channel's url",
                permanent=True,
            )
        return DeliveryError(
            f"webhook {self._host} answered HTTP {status} {response.reason_phrase}{said}", permanent=True
        )

    def _transport_error(self, error: httpx.HTTPError) -> DeliveryError:
        """Translate an httpx error into a precise, retryable (or config) DeliveryError."""
        host = self._host
        if isinstance(error, httpx.ConnectTimeout):
            return DeliveryError(f"timed out connecting to webhook {host} after {self.timeout:g}s", endpoint_down=True)
        if isinstance(error, httpx.ReadTimeout):
            return DeliveryError(f"webhook {host} did not answer within {self.timeout:g}s")
        if isinstance(error, httpx.WriteTimeout):
            return DeliveryError(f"timed out sending the request to webhook {host} after {self.timeout:g}s")
        if isinstance(error, httpx.TimeoutException):
            return DeliveryError(f"timed out waiting for a connection to webhook {host} ({type(error).__name__})")
        if isinstance(error, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return DeliveryError(f"webhook url for {host} is not usable: {error}", permanent=True)
        cause = _root_cause(error)
        if isinstance(cause, socket.gaierror):
            hostname = urlsplit(self.url).hostname
            return DeliveryError(f"DNS lookup of webhook host {hostname!r} failed: {cause.strerror or cause}",
                                 endpoint_down=True)
        if isinstance(cause, ConnectionRefusedError):
            return DeliveryError(f"connection refused by webhook {host}", endpoint_down=True)
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason
            return DeliveryError(f"TLS handshake with webhook {host} failed: certificate not trusted ({reason})",
                                 endpoint_down=True)
        if isinstance(cause, ssl.SSLError):
            return DeliveryError(f"TLS handshake with webhook {host} failed: {cause.reason or cause}", endpoint_down=True)
        if isinstance(error, httpx.RemoteProtocolError):
            return DeliveryError(f"webhook {host} broke off the exchange: {self._redact(str(error))}")
        if isinstance(error, httpx.ConnectError):
            return DeliveryError(f"could not connect to webhook {host}: {self._redact(str(cause))}", endpoint_down=True)
        return DeliveryError(f"request to webhook {host} failed: {type(error).__name__}: {self._redact(str(error))}")

    def _redact(self, text: str) -> str:
        """Remove the secret and configured header values, should an answer echo them."""
        values = [self._secret, *self._headers.values()]
        # A header like "Bearer tok-123" may come back as just "tok-123": redact its parts too.
        values += [part for value in self._headers.values() if value for part in value.split() if len(part) >= 8]
        for secret in sorted(filter(None, values), key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


async def _drain(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read a small answer to its end (so keep-alive can reuse the connection); a large one is dropped."""
    received = 0
    async with aclosing(response.aiter_raw()) as chunks:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                return


async def _read_excerpt(response: httpx.Response, limit: int = BODY_EXCERPT_BYTES) -> bytes:
    """The first `limit` bytes of the response body, without reading the rest."""
    received = b""
    async with aclosing(response.aiter_bytes()) as chunks:
        async for chunk in chunks:
            received += chunk
            if len(received) >= limit:
                break
    return received[:limit]


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception in `error`'s cause/context chain (e.g. the OSError under httpx)."""
    seen = {id(error)}
    while True:
        nested = error.__cause__ or error.__context__
        if nested is None or id(nested) in seen:
            return error
        seen.add(id(nested))
        error = nested
