"""Story grouping at scale: 100,000 articles, a quarter of them reprints, through the real code.

    .venv/bin/python bench/bench_stories.py           # 100,000 articles, news then boilerplate corpus
    .venv/bin/python bench/bench_stories.py --quick   # 20,000
    .venv/bin/python bench/bench_stories.py --quick --corpus boilerplate   # only the templated wire copy (issue 17.4)

Stores the same articles twice through `Pipeline.store_poll` (20 per poll, no rules):
once with story grouping on and once off; the difference is the cost of grouping.
Also: signatures alone per second, how many reprints joined their story, peak RSS,
and the size of the band-key table (bounded by the story window, not the archive).
Target (issue): grouping stays fast with a large archive and memory stays bounded; the
script exits 1 if fewer than 95% of exact reprints join their story. `--corpus boilerplate`:
templated price reports ending in shared agency paragraphs (bench/feedserver.py
BoilerplateWriter), so some band keys are held by thousands of articles; it also counts the
originals wrongly grouped with another original (false merges: every original is a
different report).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import types
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_match import Vocabulary, make_article  # noqa: E402
from bench.feedserver import BoilerplateWriter  # noqa: E402
from monitor.config import AlertsConfig, Config, PollingConfig, StoriesConfig  # noqa: E402
from monitor.parse.feed import _keyed_articles  # noqa: E402
from monitor.pipeline import Pipeline  # noqa: E402
from monitor.rulesource import LoadedRules  # noqa: E402
from monitor.parse.signature import signature  # noqa: E402
from rules import RuleSet, compile_rules  # noqa: E402
from storage import feeds, open_database, transaction  # noqa: E402
from storage.types import FeedSpec, PollRecord  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=UTC)


def corpus(count: int, kind: str = "news") -> list[tuple[str, str, int]]:
    """(title, summary, original index): every 4th article reprints an earlier one under a new headline."""
    vocab = Vocabulary(random.Random(3))
    rng = random.Random(4)
    wire = BoilerplateWriter(5, beat_fraction=0.0) if kind == "boilerplate" else None
    items: list[tuple[str, str, int]] = []
    for i in range(count):
        if i % 4 == 3 and i > 100:
            source = rng.randrange(max(0, i - 2000), i - 1)  # a reprint within the last ~2,000 articles
            while items[source][2] != source:
                source = items[source][2]
            items.append((f"Reprint: {make_article(vocab, 80).title}", items[source][1], source))
        elif wire is not None:
            items.append((*wire.item(), i))
        else:
            doc = make_article(vocab, target_chars=500)
            items.append((doc.title, doc.summary + " " + doc.content[:300], i))
    return items


def store_all(items, grouping: bool) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(Path(folder) / "stories.db")
        config = Config(
            storage_path=Path(folder) / "stories.db", polling=PollingConfig(), feeds=(), rules_files=(),
            alerts=AlertsConfig(), channels={}, stories=StoriesConfig(enabled=grouping),
        )
        holder = types.SimpleNamespace(current=LoadedRules(RuleSet(), compile_rules([]), {}, ()))
        pipeline = Pipeline(db, config, fetcher=None, rules=holder)  # type: ignore[arg-type]
        with transaction(db):
            feed = feeds.upsert_feed(db, FeedSpec(url="http://127.0.0.1/stories.xml"), START)[0]
        signature("warm", "up numpy and the permutation tables before timing starts")
        started = time.perf_counter()
        for poll, begin in enumerate(range(0, len(items), 20)):
            now = START + timedelta(minutes=poll)  # 20 articles a minute: the 72 h window holds ~86,000
            drafts = [(f"g{begin + i}", f"https://n{(begin + i) % 7}.example.com/{begin + i}", t, s, "", now)
                      for i, (t, s, _) in enumerate(items[begin : begin + 20])]
            entries = _keyed_articles(drafts, feed.id, "bench", [])
            pipeline.store_poll(feed.id, entries, PollRecord(now, True, 200), now)
        seconds = time.perf_counter() - started
        story_of = dict(db.execute("SELECT id, story_id FROM articles").fetchall())
        bands = db.execute("SELECT count(*) FROM article_bands").fetchone()[0]
        db.close()
    joined = sum(1 for i, (_, _, source) in enumerate(items) if source != i and story_of[i + 1] == story_of[source + 1])
    originals: dict[int, int] = {}  # story -> originals in it
    for i, (_, _, source) in enumerate(items):
        if source == i and story_of[i + 1] is not None:
            originals[story_of[i + 1]] = originals.get(story_of[i + 1], 0) + 1
    merged = sum(n for n in originals.values() if n > 1)
    return seconds, joined, bands, merged


def measure(count: int, kind: str) -> bool:
    """Print one corpus's figures; False when fewer than 95% of the reprints joined their story."""
    items = corpus(count, kind)
    reprints = sum(1 for i, (_, _, source) in enumerate(items) if source != i)

    started = time.perf_counter()
    for title, summary, _ in items[:5000]:
        signature(title, summary)
    signature_rate = min(5000, count) / (time.perf_counter() - started)

    with_seconds, joined, bands, merged = store_all(items, grouping=True)
    without_seconds, _, _, _ = store_all(items, grouping=False)
    grouping_seconds = max(with_seconds - without_seconds, 1e-9)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    originals = count - reprints
    print(f"articles: {count:,} ({reprints:,} reprints under new headlines), corpus {kind}")
    print(f"  signatures alone: {signature_rate:,.0f} articles/s")
    print(f"  store_poll with grouping: {count / with_seconds:,.0f} articles/s; without: {count / without_seconds:,.0f} articles/s")
    print(f"  grouping itself: {count / grouping_seconds:,.0f} articles/s ({grouping_seconds / count * 1e6:.0f} us per article)")
    print(f"  reprints joined to their story: {joined:,}/{reprints:,} ({joined / reprints:.1%})")
    print(f"  originals grouped with another original (false merges): {merged:,}/{originals:,} ({merged / originals:.1%})")
    print(f"  band keys stored: {bands:,} ({bands / count:.0f} per article; pruned hourly to the 72 h window by the daemon)")
    print(f"  peak RSS: {peak_mb:.0f} MB")
    if joined / reprints < 0.95:
        print(f"TARGET MISSED ({kind}): fewer than 95% of reprints joined their story")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--articles", type=int)
    parser.add_argument("--corpus", choices=("news", "boilerplate", "both"), default="both")
    args = parser.parse_args(argv)
    count = args.articles or (20_000 if args.quick else 100_000)
    kinds = ("news", "boilerplate") if args.corpus == "both" else (args.corpus,)
    results = [measure(count, kind) for kind in kinds]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
