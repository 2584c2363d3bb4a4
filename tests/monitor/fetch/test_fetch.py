"""The fetcher against a real local server: one endpoint per behaviour."""

from __future__ import annotations

import asyncio
import email.utils
import time
from contextlib import asynccontextmanager

import pytest

from monitor.fetch.aiotransport import AiohttpTransport
from monitor.fetch.fetcher import Fetcher, FetchRequest, HostGate, parse_retry_after
from tests.alerts.conftest import certificate  # noqa: F401 (fixture)
from tests.behaviour_server import BehaviourServer, Response, conditional, gzip_bomb, rss
from tests.conftest import NOW

BODY = rss(("g1", "Antimony exports", "USSM and FWO"))


@pytest.fixture
def server():
    with BehaviourServer() as running:
        yield running


def fetch(request: FetchRequest, **options):
    async def go():
        async with Fetcher(concurrency=2, host_gap=0.0, **options) as fetcher:
            return await fetcher.fetch(request)

    return asyncio.run(go())


def test_etag_round_trip_gives_304(server):
    url = server.route("/etag", conditional(BODY))
    first = fetch(FetchRequest(url))
    assert first.ok and first.body == BODY and first.etag == '"v1"'
    second = fetch(FetchRequest(url, etag=first.etag, last_modified=first.last_modified))
    assert second.not_modified and second.body == b"" and second.error is None
    assert server.requests_to("/etag")[1].headers["if-none-match"] == '"v1"'


def test_last_modified_round_trip_gives_304(server):
    url = server.route("/lm", conditional(BODY, use_etag=False))
    first = fetch(FetchRequest(url))
    second = fetch(FetchRequest(url, last_modified=first.last_modified))
    assert second.status == 304


def test_user_agent_names_the_project_and_contact(server):
    url = server.route("/ua", conditional(BODY))
    fetch(FetchRequest(url), user_agent_string="minerals-monitor/test (+mailto:ops@example.org)")
    assert "minerals-monitor" in server.requests_to("/ua")[0].headers["user-agent"]


def test_301_chain_updates_url_but_302_does_not(server):
    final = server.route("/final", conditional(BODY))
    server.route("/moved", lambda r: Response(301, headers={"Location": "/final"}))
    server.route("/moved-twice", lambda r: Response(308, headers={"Location": server.url("/moved")}))
    server.route("/temp", lambda r: Response(302, headers={"Location": "/final"}))
    server.route("/mixed", lambda r: Response(301, headers={"Location": "/temp"}))
    assert fetch(FetchRequest(server.url("/moved-twice"))).permanent_url == final
    temporary = fetch(FetchRequest(server.url("/temp")))
    assert temporary.ok and temporary.permanent_url is None and temporary.redirects == ((302, final),)
    assert fetch(FetchRequest(server.url("/mixed"))).permanent_url is None


def test_redirect_loop_stops_after_five(server):
    server.route("/loop", lambda r: Response(302, headers={"Location": "/loop"}))
    result = fetch(FetchRequest(server.url("/loop")))
    assert "more than 5 redirects" in result.error and len(result.redirects) == 6


def test_410_and_429_with_both_retry_after_forms(server):
    assert fetch(FetchRequest(server.route("/gone", lambda r: Response(410, b"gone")))).status == 410
    seconds = fetch(FetchRequest(server.route("/slow-down", lambda r: Response(429, headers={"Retry-After": "120"}))))
    assert seconds.retry_after == 120 and seconds.error == "HTTP 429 Too Many Requests"
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    dated = fetch(FetchRequest(server.route("/busy", lambda r: Response(503, headers={"Retry-After": later}))))
    assert 3500 < dated.retry_after <= 3600


def test_trickling_server_is_cut_at_the_deadline(server):
    url = server.route("/trickle", lambda r: Response(200, BODY * 4, {"Content-Type": "application/rss+xml"}, trickle=0.2))
    started = time.monotonic()
    result = fetch(FetchRequest(url), timeout=1.0)
    assert time.monotonic() - started < 3
    assert "timed out" in result.error and result.network_error


def test_gzip_bomb_is_cut_off_by_the_cap_after_decompression(server):
    url = server.route("/bomb", gzip_bomb(50 * 1024 * 1024))
    result = fetch(FetchRequest(url), max_body_bytes=1024 * 1024)
    assert "cap" in result.error and result.body == b""


def test_oversize_body_is_refused(server):
    url = server.route("/big", lambda r: Response(200, b"x" * 300_000, {"Content-Type": "application/rss+xml"}))
    assert "cap" in fetch(FetchRequest(url), max_body_bytes=100_000).error


def test_connection_refused_is_a_network_error():
    result = fetch(FetchRequest("http://127.0.0.1:9/feed.xml"))
    assert result.network_error and "refused" in result.error


def test_retry_after_parsing():
    assert parse_retry_after("30", NOW) == 30
    assert parse_retry_after("Fri, 27 Nov 2026 12:10:00 GMT", NOW) == 600
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None


def test_host_gate_limits_concurrency_and_spaces_requests():
    async def go():
        gate = HostGate(per_host=2, gap=0.05)
        running = 0
        peak = 0
        starts = []

        async def one():
            nonlocal running, peak
            async with gate.slot("example.org"):
                starts.append(time.monotonic())
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.02)
                running -= 1

        await asyncio.gather(*(one() for _ in range(6)))
        return peak, starts

    peak, starts = asyncio.run(go())
    assert peak <= 2
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.04


def test_content_encodings_offered_are_all_decoded(server):
    import zlib

    import brotli

    encoders = {"gzip": lambda b: __import__("gzip").compress(b), "deflate": zlib.compress, "br": brotli.compress}
    for name, encode in encoders.items():
        url = server.route(f"/enc-{name}", lambda r, e=encode, n=name: Response(200, e(BODY), {"Content-Encoding": n}))
        result = fetch(FetchRequest(url))
        assert result.ok and result.body == BODY, name
        offered = {part.strip() for part in server.requests_to(f"/enc-{name}")[0].headers["accept-encoding"].split(",")}
        assert {"gzip", "deflate", "br"} <= offered


def test_each_origin_keeps_its_connections_alive_across_polls():
    """Three origins, feeds interleaved, more feeds than slots: a second poll reuses the
    first poll's connections. (A client per concurrency slot handed requests to slots
    connected to another origin: a warm poll of 1,000 feeds on 16 hosts opened 470.)"""
    with BehaviourServer() as a, BehaviourServer() as b, BehaviourServer() as c:
        servers = (a, b, c)
        urls = [server.route(f"/feed-{i}.xml", conditional(BODY)) for i in range(20) for server in servers]

        def connections() -> set[tuple[int, int]]:
            return {(server.port, request.client_port) for server in servers for request in server.requests}

        async def poll(fetcher: Fetcher) -> None:
            results = await asyncio.gather(*(fetcher.fetch(FetchRequest(url)) for url in urls))
            assert all(result.ok for result in results)

        async def two_polls() -> tuple[set, set]:
            async with Fetcher(concurrency=8, per_host=8, host_gap=0.0) as fetcher:
                await poll(fetcher)
                after_first = connections()
                await poll(fetcher)
                return after_first, connections()

        after_first, after_second = asyncio.run(two_polls())
        assert sum(len(server.requests) for server in servers) == 120
        new_in_second = after_second - after_first
        # A few, when the second poll happens to have more requests in flight to one origin
        # than the first had; never one per request (the client-per-slot design opened 36).
        assert len(new_in_second) <= 6, f"the second poll opened {len(new_in_second)} new connections for 60 requests"


def test_proxy_named_by_the_environment_is_used(server, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", server.url(""))
    target = "http://feeds.example.invalid/news.xml"
    server.route(target, conditional(BODY))  # a proxy is asked for the absolute URL
    result = fetch(FetchRequest(target))
    assert result.ok and result.body == BODY
    assert server.requests_to(target)[0].headers["host"] == "feeds.example.invalid"


def test_unusable_proxy_setting_fails_the_fetch_with_the_reason(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "ftp://proxy.example.invalid:21")
    result = fetch(FetchRequest("http://feeds.example.invalid/news.xml"))
    assert "proxy" in result.error and "ftp://proxy.example.invalid:21" in result.error


def test_redirect_to_a_port_out_of_range_is_an_error_not_a_crash(server):
    url = server.route("/bad-port", lambda r: Response(302, headers={"Location": "http://127.0.0.1:99999/feed.xml"}))
    result = fetch(FetchRequest(url))
    assert "invalid URL" in result.error and result.redirects == ((302, "http://127.0.0.1:99999/feed.xml"),)


def test_https_feed_with_a_trusted_certificate_and_a_clear_error_for_an_untrusted_one(certificate):  # noqa: F811
    server = BehaviourServer()
    server._server.socket = certificate.server_context().wrap_socket(server._server.socket, server_side=True)
    with server:
        url = server.route("/tls.xml", conditional(BODY)).replace("http://", "https://")
        trusted = fetch(FetchRequest(url), transport_factory=lambda: AiohttpTransport(certificate.client_context()))
        assert trusted.ok and trusted.body == BODY
        untrusted = fetch(FetchRequest(url))  # the default trusts certifi's authorities only
        assert untrusted.network_error and untrusted.error.startswith("TLS error with 127.0.0.1")


def test_a_server_answering_garbage_is_a_one_line_protocol_error():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer_garbage():  # to aiohttp's try and to h11's second one
        for _ in range(2):
            connection, _ = listener.accept()
            connection.recv(4096)
            connection.sendall(b"HELLO THERE\r\n\r\n")
            connection.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    result = fetch(FetchRequest(f"http://127.0.0.1:{listener.getsockname()[1]}/feed.xml"), timeout=5.0)
    listener.close()
    assert result.network_error and "broke the HTTP protocol" in result.error and "\n" not in result.error


# --- wire-level cases, each a scripted server on a raw socket ----------------------------

FEED = b"<rss><channel><title>x</title><item><title>a</title></item></channel></rss>"


def answer(body: bytes = FEED, extra_headers: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body) + extra_headers + b"\r\n" + body


@asynccontextmanager
async def scripted_server(replies):
    """Answers the n-th request (over any connection) with replies(n, request) -> (reply, stray
    bytes sent 50 ms later or b""); yields the port; closes every connection at the end."""
    count = 0
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader, writer):
        nonlocal count
        writers.append(writer)
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                reply, later = replies(count, request)
                count += 1
                writer.write(reply)
                if later:
                    await asyncio.sleep(0.05)
                    writer.write(later)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()
        await asyncio.sleep(0)


def fetch_then_revalidate(replies) -> tuple:
    """A fetch, then a conditional one with the first's ETag, from a scripted server."""

    async def go():
        async with scripted_server(replies) as port, Fetcher(concurrency=1, host_gap=0.0) as fetcher:
            first = await fetcher.fetch(FetchRequest(f"http://127.0.0.1:{port}/f"))
            second = await fetcher.fetch(FetchRequest(f"http://127.0.0.1:{port}/f", etag=first.etag))
            return first, second

    return asyncio.run(go())


def test_long_and_many_response_headers_are_accepted():
    async def go():
        long_header = b"Content-Security-Policy: " + b"a" * 20_000 + b"\r\n"
        many = b"".join(b"X-Header-%d: 1\r\n" % i for i in range(300))
        async with scripted_server(lambda n, request: (answer(extra_headers=long_header if n == 0 else many), b"")) as port:
            async with Fetcher(concurrency=1, host_gap=0.0) as fetcher:
                return [await fetcher.fetch(FetchRequest(f"http://127.0.0.1:{port}/{i}")) for i in range(2)]

    assert [(result.ok, result.body) for result in asyncio.run(go())] == [(True, FEED), (True, FEED)]


def test_a_stray_response_on_an_idle_connection_never_answers_the_next_request():
    stray = answer(b"<rss>someone else's feed</rss>")

    async def go():
        async with scripted_server(lambda n, request: (answer(b"<rss>%d</rss>" % n), stray if n == 0 else b"")) as port:
            async with Fetcher(concurrency=1, per_host=1, host_gap=0.0) as fetcher:
                first = await fetcher.fetch(FetchRequest(f"http://127.0.0.1:{port}/a"))
                await asyncio.sleep(0.2)  # the stray bytes arrive while the connection is idle
                second = await fetcher.fetch(FetchRequest(f"http://127.0.0.1:{port}/b"))
                return first, second

    first, second = asyncio.run(go())
    assert first.body == b"<rss>0</rss>" and second.body == b"<rss>1</rss>"


def test_a_non_ascii_etag_is_sent_back_without_breaking_the_fetch():
    seen = []

    def replies(n, request):
        seen.append(request)
        return answer(extra_headers='ETag: "café"\r\n'.encode()), b""

    first, second = fetch_then_revalidate(replies)
    assert first.etag == '"café"' and second.ok
    assert 'If-None-Match: "café"'.encode() in seen[1].replace(b"if-none-match", b"If-None-Match")


def test_the_connect_timeout_covers_a_hanging_dns_lookup():
    async def go():
        loop = asyncio.get_running_loop()

        async def hanging_lookup(*args, **kwargs):
            await asyncio.sleep(30)

        loop.getaddrinfo = hanging_lookup
        async with Fetcher(concurrency=1, host_gap=0.0, timeout=10, connect_timeout=0.5) as fetcher:
            started = time.monotonic()
            result = await fetcher.fetch(FetchRequest("http://feeds.example.invalid/news.xml"))
            return result, time.monotonic() - started

    result, seconds = asyncio.run(go())
    assert seconds < 3 and result.network_error and "timed out" in result.error


def test_a_proxy_refusal_never_shows_the_proxy_password(monkeypatch):
    async def go():
        refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
        async with scripted_server(lambda n, request: (refusal, b"")) as port:
            for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("https_proxy", f"http://reader:s3cret-pass@127.0.0.1:{port}")
            async with Fetcher(concurrency=1, host_gap=0.0) as fetcher:
                return await fetcher.fetch(FetchRequest("https://feeds.example.invalid/news.xml"))

    result = asyncio.run(go())
    assert "403" in result.error and "s3cret" not in result.error and "reader:" not in result.error


def test_answers_too_sloppy_for_aiohttp_are_read_by_a_second_try_through_h11():
    """aiohttp refuses some answers httpx's own parser took: chunked with a Content-Length too,
    and a 304 that carries a body. Such a feed is asked once more, through h11."""
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(FEED), FEED)
    sloppy_200 = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: %d\r\nETag: \"v1\"\r\n\r\n"
                  % len(chunked)) + chunked
    sloppy_304 = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello"
    requests = []

    def replies(n, request):
        requests.append(request)
        return (sloppy_304 if b"if-none-match" in request.lower() else sloppy_200), b""

    first, second = fetch_then_revalidate(replies)
    assert first.ok and first.body == FEED and first.etag == '"v1"'
    assert second.not_modified and second.error is None
    assert len(requests) == 4  # each answer refused once by aiohttp, then read through h11
