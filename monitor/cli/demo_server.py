"""A small threaded HTTP server on 127.0.0.1 that serves feed files.

Used by `demo` (and by the tests): answers conditional GETs with 304 using a
stable ETag and Last-Modified per file, so a second cycle is all 304s.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # clients hanging up on purpose
        return


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 at an ephemeral port, started and stopped as a
    context manager. Subclasses build their handler class and call `_serve(handler)`."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-server", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FeedServer(LoopbackServer):
    """Serve `{path: (body, content_type)}` on 127.0.0.1 at an ephemeral port."""

    def __init__(self, files: dict[str, tuple[bytes, str]]):
        self.files = dict(files)
        self.requests: list[tuple[str, str]] = []  # (path, status) in arrival order
        self._lock = threading.Lock()
        self._modified = email.utils.formatdate(time.time() - 3600, usegmt=True)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                with server._lock:
                    entry = server.files.get(path)
                if entry is None:
                    self._answer(404, b"not found", "text/plain")
                    return
                body, content_type = entry
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag or (
                    "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == server._modified
                ):
                    self._answer(304, b"", content_type, etag)
                    return
                self._answer(200, body, content_type, etag)

            def _answer(self, status: int, body: bytes, content_type: str, etag: str | None = None) -> None:
                with server._lock:
                    server.requests.append((self.path, str(status)))
                self.send_response(status)
                if status != 304:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)) if status != 304 else "0")
                if etag:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", server._modified)
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self._serve(Handler)

    def set_file(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> None:
        with self._lock:
            self.files[path] = (body, content_type)
