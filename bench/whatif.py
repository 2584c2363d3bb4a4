"""What-if patches for the benchmarks (`--experiment drain,sniffio,...`).

NOT the shipped code: each experiment patches one suspected cost away inside the
benchmark's own process, so a run can show what fixing it in monitor/ or alerts/
would buy. The plain runs (no --experiment) always measure the project as it is.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
import types

EXPERIMENTS = {
    "drain": "read the rest of the response body before leaving `client.stream(...)`, so the keep-alive "
             "connection goes back to httpx's pool instead of being closed: monitor/fetch/fetcher.py for 304/3xx/4xx "
             "answers, alerts/webhook.py for 2xx answers (today each of those costs a new TCP connection)",
    "sniffio": "a `sniffio` module importable: httpcore runs `import sniffio` for every connection lock it sets up; "
               "the package is not installed (anyio 4 no longer needs it), so each failed import scans sys.path",
    "nostories": "[stories] enabled = false (no MinHash signature, no LSH candidate query, no band rows per new article)",
    "sharedssl": "one ssl.SSLContext shared by the fetcher's httpx.AsyncClients (verify=context): today each of "
                 "the `concurrency` clients loads the CA bundle into its own context (100 clients: +84 MB RSS, 2 s)",
    "fastparse": "feedparser.RESOLVE_RELATIVE_URIS = SANITIZE_HTML = 0 in the parser workers "
                 "(monitor/parse/feed.py turns the HTML into plain text anyway)",
}


def fastparse_init() -> None:
    """ProcessPoolExecutor initializer for the `fastparse` experiment."""
    import feedparser

    feedparser.RESOLVE_RELATIVE_URIS = 0
    feedparser.SANITIZE_HTML = 0


def _patch_method(cls: type, name: str, edits: list[tuple[str, str]]) -> None:
    """Recompile `cls.name` with each `insert` (one statement) placed right after the line `anchor`."""
    function = getattr(cls, name)
    module = sys.modules[function.__module__]
    lines = textwrap.dedent(inspect.getsource(function)).splitlines(keepends=True)
    for anchor, insert in edits:
        for index, line in enumerate(lines):
            if line.strip() == anchor:
                following = lines[index + 1]
                indent = following[: len(following) - len(following.lstrip())]
                lines.insert(index + 1, f"{indent}{insert}\n")
                break
        else:
            raise SystemExit(f"what-if patch: {cls.__name__}.{name} has no line {anchor!r} any more; update bench/whatif.py")
    namespace: dict = {}
    exec(compile("".join(lines), module.__file__, "exec"), module.__dict__, namespace)
    setattr(cls, name, namespace[name])


def apply_experiments(names: list[str]) -> None:
    unknown = set(names) - set(EXPERIMENTS)
    if unknown:
        raise SystemExit(f"unknown experiment(s) {sorted(unknown)}; known: {sorted(EXPERIMENTS)}")
    if "sniffio" in names and "sniffio" not in sys.modules:
        stub = types.ModuleType("sniffio")
        stub.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = stub
    if "sharedssl" in names:
        import ssl

        import certifi
        import httpx

        context = ssl.create_default_context(cafile=certifi.where())
        plain = httpx.AsyncClient

        class SharedContextClient(plain):  # type: ignore[misc, valid-type]
            def __init__(self, *args, **kwargs):
                kwargs.setdefault("verify", context)
                super().__init__(*args, **kwargs)

        httpx.AsyncClient = SharedContextClient  # monitor/fetch/fetcher.py looks it up at call time
    if "drain" in names:
        from alerts.webhook import WebhookChannel
        from monitor.fetch.fetcher import Fetcher

        _patch_method(Fetcher, "_fetch_once", [("if status == 304 or 300 <= status < 400:", "await response.aread()"),
                                                ("if status >= 400:", "await response.aread()")])
        _patch_method(WebhookChannel, "_post", [("if 200 <= response.status_code < 300:", "await response.aread()")])
