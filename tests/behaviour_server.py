"""A real HTTP server on 127.0.0.1 with one endpoint per fetching behaviour.

Each handler is a function (request) -> Response, so tests can add their own.
Requests are recorded (path, headers) for assertions on conditional GET.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from monitor.cli.demo_server import LoopbackServer


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between body bytes chunks


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    client_port: int = 0  # one per TCP connection: tells a kept-alive connection from a new one


Route = Callable[[Request], Response]


class BehaviourServer(LoopbackServer):
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, self.client_address[1])
                with server._lock:
                    server.requests.append(request)
                    route = server.routes.get(self.path.split("?")[0])
                response = route(request) if route else Response(404, b"no such route")
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    if "Content-Length" not in response.headers and response.status != 304:
                        self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    if response.trickle:
                        for start in range(0, len(response.body), 16):
                            self.wfile.write(response.body[start : start + 16])
                            self.wfile.flush()
                            time.sleep(response.trickle)
                    elif response.status != 304:
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (deadline, cap): expected in those tests

            def log_message(self, format: str, *args: object) -> None:
                return

        self._serve(Handler)

    def route(self, path: str, handler: Route) -> str:
        with self._lock:
            self.routes[path] = handler
        return self.url(path)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]


def rss(*items: tuple[str, str, str], title: str = "Test feed") -> bytes:
    """A small RSS 2.0 document from (guid, title, description) items."""
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{item_title}</title><link>https://news.example.com/{guid}</link>"
        f"<description>{description}</description><pubDate>Fri, 27 Nov 2026 08:00:00 GMT</pubDate></item>"
        for guid, item_title, description in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://news.example.com/</link><description>t</description>{entries}</channel></rss>"
    ).encode()


def conditional(body: bytes, etag: str = '"v1"', last_modified: str = "Wed, 25 Nov 2026 10:00:00 GMT",
                use_etag: bool = True) -> Route:
    """A route that answers 304 to a matching If-None-Match / If-Modified-Since."""

    def handle(request: Request) -> Response:
        headers = {"Content-Type": "application/rss+xml", "Last-Modified": last_modified}
        if use_etag:
            headers["ETag"] = etag
            if request.headers.get("if-none-match") == etag:
                return Response(304, headers=headers)
        elif request.headers.get("if-modified-since") == last_modified:
            return Response(304, headers=headers)
        return Response(200, body, headers)

    return handle


def gzip_bomb(decompressed_size: int) -> Route:
    payload = gzip.compress(b"<" + b"a" * (decompressed_size - 1), compresslevel=9)

    def handle(request: Request) -> Response:
        return Response(200, payload, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})

    return handle
