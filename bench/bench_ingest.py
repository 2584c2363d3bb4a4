"""Ingest and query benchmarks (issue: normalise -> store -> match -> outbox; hits queries at 1M).

    .venv/bin/python bench/bench_ingest.py            # 20,000 new articles, 1,000 rules; 1,000,000-article archive
    .venv/bin/python bench/bench_ingest.py --quick    # 5,000 articles; 100,000-article archive

1. Ingest: new articles per second through the real pipeline code (`Pipeline.store_poll`:
   identity, story grouping, matching with 1,000 rules, hits, outbox rows, in one
   transaction per 20-item feed poll, plus the batched full-text indexing), articles built
   the way the parser builds them (HTML to text, canonical URL). The limit beside it: plain sqlite-utils `insert_all` of
   the same rows into a table with an FTS5 index.
2. Queries on an archive of N articles with hits spread over 60 days: `hits list --since 7d`
   and `hits search` (the storage functions the CLI calls; process start-up excluded).
Targets: ingest >= 5,000 articles/s; both queries < 100 ms. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_match import Vocabulary, make_article, make_rules  # noqa: E402
from monitor.config import AlertsConfig, ChannelConfig, Config, PollingConfig  # noqa: E402
from monitor.parse import _keyed_articles  # noqa: E402
from monitor.pipeline import Pipeline, PollWrite  # noqa: E402
from monitor.writer import MAX_BATCH  # noqa: E402
from monitor.stories import signature  # noqa: E402
from monitor.rulesource import LoadedRules  # noqa: E402
from rules import RuleSet, compile_rules  # noqa: E402
from storage import articles, feeds, hits, open_database, transaction  # noqa: E402
from storage.types import FeedSpec, Hit, PollRecord  # noqa: E402

TARGET_INGEST = 5_000
# The write thread stores the polls that queued up meanwhile in one transaction (up to
# MAX_BATCH); during a burst of new articles a handful is typical, so count 8.
POLLS_PER_TRANSACTION = min(8, MAX_BATCH)
TARGET_QUERY_MS = 100
NOW = datetime.now(UTC)


def entries_for(feed_id: int, docs, start: int):
    """Articles as the parser makes them: HTML decoded to text, canonical links, identity keys."""
    drafts = [
        (f"bench-{start + i}", f"https://news.example.com/{start + i}?utm_source=rss", d.title,
         f"<p>{d.summary}</p>", "", NOW)
        for i, d in enumerate(docs)
    ]
    return _keyed_articles(drafts, feed_id, f"feed {feed_id}", [])


def bench_ingest(count: int, rule_count: int) -> dict:
    vocab = Vocabulary(random.Random(11))
    docs = [make_article(vocab, target_chars=600) for _ in range(count)]
    rules, aliases = make_rules(vocab, rule_count)
    matcher = compile_rules(rules, aliases)
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(Path(folder) / "ingest.db")
        config = Config(
            storage_path=Path(folder) / "ingest.db", polling=PollingConfig(), feeds=(), rules_files=(),
            alerts=AlertsConfig(default_channels=("console",)), channels={"console": ChannelConfig("console", "console")},
        )
        holder = types.SimpleNamespace(
            current=LoadedRules(RuleSet(tuple(rules), aliases), matcher, {r.id: r for r in rules}, ())
        )
        pipeline = Pipeline(db, config, fetcher=None, rules=holder)  # type: ignore[arg-type]
        feed_ids = []
        with transaction(db):
            for i in range(count // 20 + 1):
                feed_ids.append(feeds.upsert_feed(db, FeedSpec(url=f"http://127.0.0.1/feed/{i}.xml"), NOW)[0].id)
        hit_count = 0
        signature("warm", "up the MinHash permutations and imports as a running monitor has them")
        started = time.perf_counter()
        writes = [
            PollWrite(feed_ids[poll], entries_for(feed_ids[poll], docs[start : start + 20], start), PollRecord(NOW, True, 200), NOW)
            for poll, start in enumerate(range(0, count, 20))
        ]
        parsed_at = time.perf_counter()
        for first in range(0, len(writes), POLLS_PER_TRANSACTION):
            for _, inserted in pipeline.store_polls(db, writes[first : first + POLLS_PER_TRANSACTION]):
                hit_count += len(inserted)
        articles.index_pending(db)  # the batched full-text indexing is part of the cost
        finished = time.perf_counter()
        ours = count / (finished - started)
        stored_only = count / (finished - parsed_at)
        outbox = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        db.close()

        plain = sqlite_utils.Database(Path(folder) / "plain.db")
        plain["articles"].create({"id": int, "url": str, "title": str, "summary": str}, pk="id")
        plain["articles"].enable_fts(["title", "summary"], create_triggers=True)
        rows = [{"id": i, "url": f"https://news.example.com/{i}", "title": d.title, "summary": d.summary} for i, d in enumerate(docs)]
        started = time.perf_counter()
        plain["articles"].insert_all(rows, batch_size=20)
        limit = count / (time.perf_counter() - started)
        plain.close()
    return {"ours": ours, "stored_only": stored_only, "limit": limit, "hits": hit_count, "outbox": outbox, "rules": rule_count, "articles": count}


def build_archive(path: Path, size: int) -> None:
    """An archive of `size` articles over 60 days, a hit on every 20th, via the storage functions."""
    vocab = Vocabulary(random.Random(5))
    samples = [make_article(vocab, target_chars=400) for _ in range(2000)]
    db = open_database(path)
    with transaction(db):
        feed = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/archive.xml"), NOW)[0]
    batch = 5000
    for start in range(0, size, batch):
        moment = NOW - timedelta(days=60) + timedelta(days=60) * (start / size)
        docs = [samples[(start + i) % len(samples)] for i in range(min(batch, size - start))]
        entries = entries_for(feed.id, docs, start)
        with transaction(db):
            stored = articles.ingest_entries(db, feed.id, entries, moment).new
            hits.insert_hits(db, [Hit("bench-rule", a.id, "medium") for a in stored[::20]], moment)
    db.close()


def time_queries(path: Path, repeats: int = 7) -> dict:
    db = open_database(path)

    def timed(fn) -> float:
        fn()  # warm the page cache, as a running system has it
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    since = NOW - timedelta(days=7)
    figures = {
        "hits list --since 7d": timed(lambda: hits.list_hits(db, since=since, limit=100)),
        "hits search antimony": timed(lambda: articles.search_articles(db, "antimony", 50)),
        'hits search "rare earth"': timed(lambda: articles.search_articles(db, '"rare earth"', 50)),
    }
    db.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--articles", type=int)
    parser.add_argument("--archive", type=int)
    args = parser.parse_args(argv)
    count = args.articles or (5_000 if args.quick else 20_000)
    archive = args.archive or (100_000 if args.quick else 1_000_000)

    ingest = bench_ingest(count, 1000)
    print(f"ingest: {ingest['articles']} new articles, {ingest['rules']} rules, {ingest['hits']} hits, {ingest['outbox']} outbox rows")
    print(f"  minerals-monitor parse-side text work + store_polls ({POLLS_PER_TRANSACTION} polls of 20 per transaction): "
          f"{ingest['ours']:,.0f} articles/s (store_polls alone: {ingest['stored_only']:,.0f}/s)")
    print(f"  limit, sqlite-utils insert_all with FTS5 (no identity, no matching): {ingest['limit']:,.0f} rows/s")
    print(f"  ratio ours/limit: {ingest['ours'] / ingest['limit']:.2f}")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "archive.db"
        started = time.perf_counter()
        build_archive(path, archive)
        print(f"archive of {archive:,} articles built in {time.perf_counter() - started:.0f}s")
        queries = time_queries(path)
    for name, ms in queries.items():
        print(f"  {name}: {ms:.1f} ms (median of 7)")

    missed = []
    if ingest["ours"] < TARGET_INGEST:
        missed.append(f"ingest {ingest['ours']:,.0f}/s < {TARGET_INGEST:,}/s")
    missed += [f"{name} {ms:.0f} ms >= {TARGET_QUERY_MS} ms" for name, ms in queries.items() if ms >= TARGET_QUERY_MS]
    if missed:
        print("TARGET MISSED: " + "; ".join(missed))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
