"""Full text for feeds that carry only headlines (`full_text = true` per feed).

Each NEW entry's page is fetched with the same fetcher (caps, deadline,
per-host politeness), behind the SSRF guard, and its main text extracted with
trafilatura into the article's `content`, so rules scoped to `content` see it.
A failure keeps the feed's summary and is reported back as a warning.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from monitor.fetch.fetcher import Fetcher, FetchRequest
from monitor.fetch.ssrf import url_refusal
from storage.types import Article

MAX_PAGES_PER_POLL = 50  # a feed that suddenly lists 1,000 new links does not trigger 1,000 fetches


@dataclass(frozen=True)
class FullTextOutcome:
    articles: list[Article]
    failures: list[str]


def extract_main_text(html: bytes) -> str:
    import trafilatura  # imported here: only feeds with full_text = true need it

    text = trafilatura.extract(html.decode("utf-8", errors="replace"), include_comments=False, include_tables=False)
    return (text or "").strip()


async def add_full_text(
    articles: list[Article],
    fetcher: Fetcher,
    *,
    allow_private_addresses: bool,
    executor: Executor | None = None,
) -> FullTextOutcome:
    guard = None if allow_private_addresses else url_refusal
    failures: list[str] = []

    async def one(article: Article) -> Article:
        link = article.link or article.url
        if not link.startswith(("http://", "https://")):
            return article
        fetched = await fetcher.fetch(FetchRequest(link, guard=guard))
        if not fetched.ok:
            failures.append(f"{link}: {fetched.error or f'HTTP {fetched.status}'}")
            return article
        loop = asyncio.get_running_loop()
        try:
            text = await loop.run_in_executor(executor, extract_main_text, fetched.body)
        except Exception as error:  # extractor bug on hostile HTML: this article's problem only
            failures.append(f"{link}: text extraction failed: {type(error).__name__}")
            return article
        if not text:
            failures.append(f"{link}: no main text found in the page")
            return article
        return replace(article, content=text)

    chosen = articles[:MAX_PAGES_PER_POLL]
    enriched = list(await asyncio.gather(*(one(a) for a in chosen))) + articles[MAX_PAGES_PER_POLL:]
    return FullTextOutcome(articles=enriched, failures=failures)
