"""An httpx transport that puts requests on the wire with aiohttp.

Why: the fetcher speaks httpx (requests, responses, content decoding, errors), but
httpx's own transport (httpcore + h11 + anyio, all pure Python) spent ~0.5 ms of CPU
per request here, and a worker answers ~50 responses per round trip: a warm poll of
1,000 feeds took 1.12 s against 1.05 s for a raw-socket client. aiohttp parses HTTP in
C and pools connections per host in a dict: the same poll takes 1.07 s
(bench/bench_poll.py). httpx's transport interface is the supported way to swap the
wire layer; this module is the adapter (the httpx-aiohttp package mapped a refused
connection to a timeout).

What it keeps from httpx's transport: no redirects followed (the fetcher follows them
itself), no decompression here (httpx decodes, so the body cap counts decoded bytes),
no cookies, the `timeout` extension (connect and read), a per-request proxy, and
aiohttp's errors raised as the httpx errors they correspond to, with the original as
the cause (monitor/fetch/fetcher.py's messages look at both).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx
import yarl

_CHUNK = 64 * 1024
_MAX_HEADER_LINE = 64 * 1024
_MAX_HEADERS = 1000


class _FreshConnector(aiohttp.TCPConnector):
    """Never reuses a kept-alive connection on which bytes arrived while it sat idle.

    aiohttp hands out an idle connection without looking; a server that sent a stray
    response after the one asked for would then answer the next request (another feed
    of the same host) with it. httpcore dropped such connections; so does this.
    (`_get` is aiohttp's internal "reusable connection for this key"; pinned to 3.x.)
    """

    async def _get(self, *args, **kwargs):  # type: ignore[override]
        while True:
            connection = await super()._get(*args, **kwargs)
            if connection is None or connection.protocol is None or not connection.protocol.should_close:
                return connection
            connection.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (and connection pool) for every host. A request's `proxy`
    extension names its proxy (None: direct)."""

    def __init__(self, ssl_context: ssl.SSLContext, keepalive_seconds: float = 5.0):
        self._ssl = ssl_context
        self._keepalive = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        # No connection limits here: the fetcher's concurrency and per-host gate bound them.
        connector = _FreshConnector(ssl=self._ssl, limit=0, limit_per_host=0, keepalive_timeout=self._keepalive)
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, trust_env=False,
            # Real sites send long Content-Security-Policy and Link headers: aiohttp's defaults
            # (8,190 bytes a line, 128 headers) refused what httpx took (a 100 KB block).
            max_line_size=_MAX_HEADER_LINE, max_field_size=_MAX_HEADER_LINE, max_headers=_MAX_HEADERS,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open_session()  # inside the running loop, as aiohttp wants
        timeout = request.extensions.get("timeout", {})
        with _as_httpx_errors(request):
            response = await self._session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # already encoded by httpx: not again
                headers=[(name, value) for name, value in request.headers.multi_items() if name != "host"],
                data=request.content or None,
                allow_redirects=False,
                proxy=request.extensions.get("proxy"),
                # `connect` also covers the DNS lookup, which `sock_connect` does not.
                timeout=aiohttp.ClientTimeout(total=None, connect=timeout.get("connect"),
                                              sock_connect=timeout.get("connect"), sock_read=timeout.get("read")),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode("latin-1", "replace")},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request):
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk

    async def aclose(self) -> None:
        # A body read to its end gives the connection back for reuse; otherwise it is closed.
        self._response.release()


class _as_httpx_errors:
    """aiohttp's exceptions as httpx's, most specific first; the original stays the cause."""

    def __init__(self, request: httpx.Request):
        self.request = request

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: object) -> bool:
        if error is None or not isinstance(error, (aiohttp.ClientError, TimeoutError)):
            return False
        for aiohttp_kind, httpx_kind in _ERRORS:
            if isinstance(error, aiohttp_kind):
                raise httpx_kind(_message(error), request=self.request) from error
        return False


def _message(error: BaseException) -> str:
    """One line; for a response error only status and reason: aiohttp's own text adds the
    URL, which for a proxy's answer holds the proxy's user and password."""
    if isinstance(error, aiohttp.ClientResponseError):
        text = f"{error.status} {error.message}"
    else:
        text = str(error)
    return " ".join(text.split()) or type(error).__name__


_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS (the OSError is its cause)
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a malformed status line or header
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx.ReadError),  # reset mid-response
    (aiohttp.ClientError, httpx.TransportError),
)
