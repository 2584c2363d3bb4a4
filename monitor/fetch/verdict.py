"""Whether a fetched body is worth parsing. Pure: values in, values out.

Decided where the body is (in the fetch workers, monitor/fetch/pool.py), so an unchanged
body never crosses the pipe; monitor/decide.py records the verdict on the feed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.fetch.fetcher import FetchResult
from storage.types import Feed


@dataclass(frozen=True)
class FetchVerdict:
    """What to do with a fetch: parse the body, or record the poll as it is."""

    parse: bool
    body_hash: str | None = None
    reason: str = ""


def body_fingerprint(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def judge_fetch(feed: Feed, fetch: FetchResult) -> FetchVerdict:
    """Parse only a 2xx body that differs from the last one stored (ETag churn is common)."""
    if not fetch.ok:
        return FetchVerdict(parse=False, reason="not modified" if fetch.not_modified else (fetch.error or ""))
    fingerprint = body_fingerprint(fetch.body)
    if fingerprint == feed.body_hash:
        return FetchVerdict(parse=False, body_hash=fingerprint, reason="body unchanged")
    return FetchVerdict(parse=True, body_hash=fingerprint)
