"""Fetching feeds over HTTP like a good citizen.

httpx requests put on the wire by aiohttp (monitor/fetch/aiotransport.py) with one
connection pool for all hosts, at most `concurrency` requests in flight, at
most `per_host` per host with a minimum gap between them, a total deadline per
request, a body cap applied after decompression, redirects followed by hand so
301/308 can be told from 302/307, conditional GET, and the proxy the
environment names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY). Every
outcome is a `FetchResult` value; nothing raises.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import socket
import ssl
import time
import urllib.request
from http import HTTPStatus
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from urllib.parse import urljoin, urlsplit

import certifi
import httpx

MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = (301, 308)


def user_agent(contact: str) -> str:
    try:
        version = metadata.version("minerals-monitor")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = "dev"
    return f"minerals-monitor/{version} (keyword news monitor; +{contact})"


# Checks a URL before each hop is requested; returns why it is refused, or None.
UrlGuard = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    guard: UrlGuard | None = None  # e.g. the SSRF guard for third-party article links


@dataclass(frozen=True)
class FetchResult:
    """What one HTTP fetch produced. `error` is set when no usable body came back."""

    url: str
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str = ""
    permanent_url: str | None = None  # set when every hop was a 301/308
    redirects: tuple[tuple[int, str], ...] = ()
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds
    error: str | None = None
    network_error: bool = False  # no HTTP answer at all (DNS, refused, reset, timeout)
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now, from either form (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class HostGate:
    """At most `per_host` requests in flight per host, `gap` seconds apart."""

    def __init__(self, per_host: int, gap: float, clock: Callable[[], float] = time.monotonic):
        self.per_host = per_host
        self.gap = gap
        self.clock = clock
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._next_start: dict[str, float] = {}

    def semaphore(self, host: str) -> asyncio.Semaphore:
        """The `per_host` places of `host`."""
        return self._semaphores.setdefault(host, asyncio.Semaphore(self.per_host))

    def reserve(self, host: str) -> float:
        """When the next request to `host` may start (now or later, on `clock`); the one
        after it then waits `gap` more."""
        start = max(self.clock(), self._next_start.get(host, 0.0))
        self._next_start[host] = start + self.gap
        return start

    @asynccontextmanager
    async def slot(self, host: str):
        async with self.semaphore(host):
            wait = self.reserve(host) - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            yield


class Fetcher:
    """At most `concurrency` requests in flight, per-host politeness, and one connection
    pool for all hosts (monitor/fetch/aiotransport.py)."""

    def __init__(
        self,
        *,
        concurrency: int = 32,
        per_host: int = 2,
        host_gap: float = 0.5,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_body_bytes: int = 15 * 1024 * 1024,
        user_agent_string: str = user_agent("https://github.com/minerals-monitor/minerals-monitor"),
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.now = now
        self.gate = HostGate(per_host, host_gap)
        self._slots = asyncio.Semaphore(concurrency)
        self._headers = {"User-Agent": user_agent_string, "Accept": _ACCEPT, "Accept-Encoding": _ACCEPT_ENCODING}
        self._timeouts = httpx.Timeout(timeout, connect=min(connect_timeout, timeout)).as_dict()
        self._proxies = urllib.request.getproxies()  # HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (NO_PROXY per host)
        self._proxy_of_host: dict[tuple[str, str], str | None] = {}
        self._transport_factory = transport_factory or _default_transport
        self._transport: httpx.AsyncBaseTransport | None = None  # made at the first fetch
        # httpx's own transport (h11), for a second try when aiohttp's stricter parser refused
        # an answer (chunked and Content-Length both, a repeated Content-Length, a 304 with a
        # body...): one per proxy, no kept-alive connections (a sloppy answer can leave bytes
        # behind on one). Not with a transport_factory: that transport is the only one.
        self._lenient: dict[str | None, httpx.AsyncBaseTransport] | None = None if transport_factory else {}

    def prepare(self) -> None:
        """Make the transport now rather than at the first fetch (a worker process does this
        before it takes work: importing aiohttp takes ~0.2 s, which would delay its first
        request past the start time it was given)."""
        if self._transport is None:
            self._transport = self._transport_factory()

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
        for lenient in (self._lenient or {}).values():
            await lenient.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def fetch(self, request: FetchRequest) -> FetchResult:
        async with self._slots:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout):
                    result = await self._fetch_following(request)
            except TimeoutError:
                result = FetchResult(
                    url=request.url,
                    error=f"timed out: no complete response within {self.timeout:g}s",
                    network_error=True,
                )
            return replace(result, elapsed=time.monotonic() - started)

    async def _fetch_following(self, request: FetchRequest) -> FetchResult:
        url = request.url
        redirects: list[tuple[int, str]] = []
        all_permanent = True
        headers: dict[str, str | bytes] = {}
        # A validator is sent back as the server wrote it; httpx refuses non-ASCII text, so
        # such a value (an ETag in UTF-8) goes as bytes.
        if request.etag:
            headers["If-None-Match"] = _as_header(request.etag)
        if request.last_modified:
            headers["If-Modified-Since"] = _as_header(request.last_modified)

        def failed(error: str, network_error: bool = False) -> FetchResult:
            return FetchResult(url=request.url, final_url=url, redirects=tuple(redirects), error=error,
                               network_error=network_error)

        for _ in range(MAX_REDIRECTS + 1):
            if request.guard is not None:
                refusal = await request.guard(url)
                if refusal:
                    return failed(refusal)
            parts = urlsplit(url)
            host = parts.hostname or ""
            try:
                parts.port  # noqa: B018 (raises for a port out of range, e.g. in a redirect's Location)
            except ValueError as error:
                return failed(f"invalid URL {url!r}: {error}")
            proxy = self._proxy_for(parts.scheme, host)
            if proxy and urlsplit(proxy).scheme not in ("http", "https"):
                return failed(f"the proxy {proxy!r} named by the environment cannot be used: "
                              "only http:// and https:// proxies are supported", network_error=True)
            async with self.gate.slot(host):
                try:
                    result = await self._fetch_hop(url, headers, proxy)
                except httpx.HTTPError as error:
                    return failed(_describe(error, url), network_error=True)
            if result.status in (301, 302, 303, 307, 308) and "location" in result.headers:
                target = urljoin(url, result.headers["location"])
                if not target.startswith(("http://", "https://")):
                    return replace(result, url=request.url, error=f"redirect to a non-HTTP URL {target!r}")
                redirects.append((result.status, target))
                all_permanent = all_permanent and result.status in PERMANENT_REDIRECTS
                url = target
                continue
            permanent_url = url if redirects and all_permanent else None
            return replace(result, url=request.url, final_url=url, redirects=tuple(redirects), permanent_url=permanent_url)
        return failed(f"more than {MAX_REDIRECTS} redirects (last: {url})")

    def _proxy_for(self, scheme: str, host: str) -> str | None:
        key = (scheme, host)
        if key not in self._proxy_of_host:
            bypass = urllib.request.proxy_bypass(host)
            self._proxy_of_host[key] = None if bypass else self._proxies.get(scheme) or self._proxies.get("all")
        return self._proxy_of_host[key]

    async def _fetch_hop(self, url: str, headers: dict[str, str | bytes], proxy: str | None) -> FetchResult:
        try:
            return await self._fetch_once(url, headers, proxy)
        except httpx.RemoteProtocolError:
            if self._lenient is None:
                raise
            return await self._fetch_once(url, headers, proxy, self._lenient_transport(proxy))

    def _lenient_transport(self, proxy: str | None) -> httpx.AsyncBaseTransport:
        assert self._lenient is not None
        if proxy not in self._lenient:
            self._lenient[proxy] = httpx.AsyncHTTPTransport(verify=_tls_context(), proxy=proxy,
                                                            limits=httpx.Limits(max_keepalive_connections=0))
        return self._lenient[proxy]

    async def _fetch_once(self, url: str, headers: dict[str, str | bytes], proxy: str | None,
                          transport: httpx.AsyncBaseTransport | None = None) -> FetchResult:
        # Straight to the transport, not through an AsyncClient: the client's layers (URL
        # merging, auth and redirect flows, cookie jar, hooks) cost ~0.13 ms of CPU per
        # request; redirects we follow ourselves, and feeds need no cookies.
        request = httpx.Request("GET", url, headers={**self._headers, **headers},
                                extensions={"timeout": self._timeouts, "proxy": proxy})
        if transport is None:
            self.prepare()
            transport = self._transport
        async with _opened(transport, request) as response:
            response_headers = {k.lower(): v for k, v in response.headers.items()}
            status = response.status_code
            common = dict(
                url=url,
                status=status,
                headers=response_headers,
                etag=response_headers.get("etag"),
                last_modified=response_headers.get("last-modified"),
            )
            if status == 304 or 300 <= status < 400:
                await _drain(response)  # read to the end so keep-alive reuses the connection
                return FetchResult(**common)
            if status >= 400:
                await _drain(response)
                retry_after = parse_retry_after(response_headers.get("retry-after"), self.now())
                return FetchResult(**common, retry_after=retry_after, error=_status_error(status))
            declared = response_headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_bytes and "content-encoding" not in response_headers:
                return FetchResult(**common, error=_too_big(self.max_body_bytes))
            chunks: list[bytes] = []
            size = 0
            # aiter_bytes yields DECODED bytes, so the cap also stops decompression bombs.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    return FetchResult(**common, error=_too_big(self.max_body_bytes))
                chunks.append(chunk)
            body = b"".join(chunks)
            if not body.strip():
                return FetchResult(**common, error="empty response body")
            return FetchResult(**common, body=body)


def _as_header(value: str) -> str | bytes:
    return value if value.isascii() else value.encode("utf-8")


def _default_transport() -> httpx.AsyncBaseTransport:
    # Imported here, not at the top: aiohttp weighs ~10 MB, and the main process, whose
    # feed polls run in the fetch workers, usually never fetches.
    from monitor.fetch.aiotransport import AiohttpTransport

    return AiohttpTransport(_tls_context())


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """certifi's CA bundle, loaded once per process (building a context costs ~20 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


@asynccontextmanager
async def _opened(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> AsyncIterator[httpx.Response]:
    response = await transport.handle_async_request(request)
    response.request = request
    try:
        yield response
    finally:
        await response.aclose()


async def _drain(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read a short answer's body to its end; without that the connection is closed, not
    reused, and a warm poll of 1,000 feeds opened 900 new ones. A long body is left (connection dropped)."""
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limit:
            return


# What httpx decodes here: gzip and deflate always, brotli through the `brotli` dependency.
_ACCEPT_ENCODING = "gzip, deflate, br"
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"
)


def _too_big(cap: int) -> str:
    return f"response body larger than the {cap // (1024 * 1024)} MiB cap (after decompression); not loaded"


def _status_error(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    return f"HTTP {status} {phrase}"


def _causes(error: BaseException) -> list[BaseException]:
    """The exception and what caused it (anyio hides the OSError under a generic message)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        if isinstance(current, BaseExceptionGroup):
            chain.extend(current.exceptions)
        current = current.__cause__ or current.__context__
    return chain


def _describe(error: httpx.HTTPError, url: str) -> str:
    host = urlsplit(url).hostname or url
    text = str(error) or type(error).__name__
    causes = _causes(error)
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return f"connection refused by {host}"
    if any(isinstance(cause, socket.gaierror) for cause in causes):
        return f"DNS lookup failed for {host}"
    if isinstance(error, httpx.ConnectError):
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return f"DNS lookup failed for {host}"
        if "refused" in text.lower():
            return f"connection refused by {host}"
        if "SSL" in text or "certificate" in text.lower():
            return f"TLS error with {host}: {text}"
        return f"cannot connect to {host}: {text}"
    if isinstance(error, httpx.TimeoutException):
        return f"timed out talking to {host} ({type(error).__name__})"
    if isinstance(error, httpx.DecodingError):
        return f"cannot decode the response body from {host}: {text}"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"{host} broke the HTTP protocol: {text}"
    return f"{type(error).__name__} from {host}: {text}"


