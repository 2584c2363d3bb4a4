"""Ingest and query benchmarks (issue: normalise -> store -> match -> outbox; hits queries at 1M).

    .venv/bin/python bench/bench_ingest.py            # 20,000 new articles, 1,000 rules; 1,000,000-article archive
    .venv/bin/python bench/bench_ingest.py --quick    # 5,000 new articles; the same 1,000,000-article archive

1. Ingest: new articles per second through the real pipeline code (`Pipeline.store_polls`,
   what the write thread runs: identity, story grouping, rule normalisation and matching
   with 1,000 rules, hits, outbox rows; 8 polls of 20 entries per transaction, as the
   write thread batches queued polls; plus the batched full-text indexing). The articles
   are built the way the parse workers build them (HTML to text, canonical URL, MinHash
   signature); that parse-side work runs in the worker processes, beside the store, in
   the monitor, so it is timed separately and also shown added to the store time. The
   limit beside it: plain sqlite-utils `insert_all` of the same rows into a table with an
   FTS5 index.
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
from monitor.parse.feed import _keyed_articles  # noqa: E402
from monitor.pipeline import Pipeline, PollWrite  # noqa: E402
from monitor.writer import MAX_BATCH  # noqa: E402
from monitor.parse.signature import signature  # noqa: E402
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
        parse_started = time.perf_counter()
        writes = [
            PollWrite(feed_ids[poll], entries_for(feed_ids[poll], docs[start : start + 20], start), PollRecord(NOW, True, 200), NOW)
            for poll, start in enumerate(range(0, count, 20))
        ]
        parsed_at = time.perf_counter()
        parse_seconds = parsed_at - parse_started
        for first in range(0, len(writes), POLLS_PER_TRANSACTION):
            for _, inserted in pipeline.store_polls(db, writes[first : first + POLLS_PER_TRANSACTION]):
                hit_count += len(inserted)
        articles.index_pending(db)  # the batched full-text indexing is part of the cost
        finished = time.perf_counter()
        ours = count / (finished - parsed_at)
        with_parse_side = count / (finished - parsed_at + parse_seconds)
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
    return {"ours": ours, "with_parse_side": with_parse_side, "limit": limit, "hits": hit_count, "outbox": outbox, "rules": rule_count, "articles": count}


SEED_ARTICLES = 5_000


def build_archive(path: Path, size: int) -> None:
    """An archive of `size` articles over 60 days, a hit on every 20th.

    The first SEED_ARTICLES go through the storage functions (identity, sources, hits);
    the rest are copies of them made by set-based SQL (each with its own URL, id and
    time, spread evenly over the 60 days): a million articles through the ingest path
    took minutes of `make bench` to build a fixture whose queries are what is measured.
    """
    vocab = Vocabulary(random.Random(5))
    samples = [make_article(vocab, target_chars=400) for _ in range(2000)]
    db = open_database(path)
    with transaction(db):
        feed = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/archive.xml"), NOW)[0]
    seed = min(size, SEED_ARTICLES)
    docs = [samples[i % len(samples)] for i in range(seed)]
    with transaction(db):
        stored = articles.ingest_entries(db, feed.id, entries_for(feed.id, docs, 0), NOW - timedelta(days=60)).new
        hits.insert_hits(db, [Hit("bench-rule", a.id, "medium") for a in stored[::20]], NOW - timedelta(days=60))
    start = NOW - timedelta(days=60)
    step = timedelta(days=60) / size
    with transaction(db):
        # Copies: article n (n >= seed) repeats seed article n % seed, first seen at start + n * step.
        db.execute(
            f"""
            WITH RECURSIVE n(i) AS (SELECT {seed} UNION ALL SELECT i + 1 FROM n WHERE i < {size - 1})
            INSERT INTO articles (id, feed_id, url, link, guid, title, summary, content, published_at,
                                  first_seen_at, content_hash, story_id)
            SELECT n.i + 1, a.feed_id, a.url || '#' || n.i, a.link, a.guid || '-' || n.i, a.title, a.summary,
                   a.content, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', :start, '+' || (n.i * :step) || ' seconds'),
                   a.content_hash, n.i + 1
            FROM n JOIN articles a ON a.id = (n.i % {seed}) + 1
            """,
            {"start": start.strftime("%Y-%m-%d %H:%M:%S"), "step": step.total_seconds()},
        )
        db.execute(
            """
            INSERT INTO hits (rule_id, article_id, severity, created_at, story_id)
            SELECT 'bench-rule', id, 'medium', first_seen_at, id FROM articles WHERE id > ? AND id % 20 = 1
            """,
            [seed],
        )
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
    archive = args.archive or 1_000_000

    ingest = bench_ingest(count, 1000)
    print(f"ingest: {ingest['articles']} new articles, {ingest['rules']} rules, {ingest['hits']} hits, {ingest['outbox']} outbox rows")
    print(f"  minerals-monitor store_polls ({POLLS_PER_TRANSACTION} polls of 20 per transaction): {ingest['ours']:,.0f} articles/s")
    print(f"  with the parse workers' text work added on the same core: {ingest['with_parse_side']:,.0f} articles/s")
    print(f"  limit, sqlite-utils insert_all with FTS5 (no identity, no matching): {ingest['limit']:,.0f} rows/s")
    print(f"  ratio ours/limit: {ingest['ours'] / ingest['limit']:.2f}")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "archive.db"
        started = time.perf_counter()
        build_archive(path, archive)
        print(f"archive of {archive:,} articles built in {time.perf_counter() - started:.0f}s "
              f"({SEED_ARTICLES:,} through the storage functions, the rest copied by SQL)")
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
