"""`hits list|search`: what the rules found."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from monitor.cli.context import ago, iso, print_json, since_option, state, stdout
from monitor.jsonshapes import article_json  # shared with the web API
from storage import articles, hits
from storage.types import HitListing

app = typer.Typer(help="List and search stored hits and articles.", no_args_is_help=True)


def hit_json(listing: HitListing) -> dict:
    hit, article = listing.hit, listing.article
    return {
        "id": hit.id,
        "rule": hit.rule_id,
        "rule_name": hit.rule_name,
        "severity": hit.severity,
        "url": article.url or article.link,
        "title": article.title,
        "feed": article.feed_name,
        "published": iso(article.published_at),
        "created_at": iso(hit.created_at),
        "article_id": article.id,
        "story_id": article.story_id,
        "story_size": listing.story_size,
        "terms": [
            {"term": t.term, "field": t.field, "start": t.start, "end": t.end, "text": t.text} for t in hit.terms
        ],
    }


@app.command("list")
def list_hits(
    ctx: typer.Context,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule id.")] = None,
    since: Annotated[str | None, typer.Option("--since", help='Only hits newer than this, e.g. "7d".')] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest first).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Hits, newest first, with the terms that matched."""
    db = state(ctx).database()
    rows = hits.list_hits(db, since=since_option(since), rule_id=rule, limit=limit)
    if as_json:
        print_json([hit_json(r) for r in rows])
        return
    now = datetime.now(UTC)
    table = Table(title=f"{len(rows)} hits", title_justify="left")
    for column in ("when", "severity", "rule", "title", "matched", "story", "feed"):
        table.add_column(column, overflow="fold")
    for row in rows:
        terms = ", ".join(dict.fromkeys(t.text for t in row.hit.terms))
        story = f"{row.story_size} outlets" if row.story_size > 1 else ""
        table.add_row(
            ago(row.hit.created_at, now), row.hit.severity, row.hit.rule_id,
            f"{row.article.title}\n[dim]{row.article.url or row.article.link}[/dim]", terms, story, row.article.feed_name,
        )
    stdout.print(table)


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='Full-text query (SQLite FTS5 syntax: words, "phrases", OR, NOT, prefix*).')],
    limit: Annotated[int, typer.Option("--limit", help="At most this many results.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Search every stored article's title and summary (not only hits)."""
    db = state(ctx).database()
    found = articles.search_articles(db, query, limit)
    if as_json:
        print_json([article_json(a) for a in found])
        return
    table = Table(title=f"{len(found)} articles matching {query!r}", title_justify="left")
    for column in ("id", "published", "title", "feed"):
        table.add_column(column, overflow="fold")
    for article in found:
        table.add_row(str(article.id), iso(article.published_at) or "-",
                      f"{article.title}\n[dim]{article.url or article.link}[/dim]", article.feed_name)
    stdout.print(table)
