"""`hits list|search`: what the rules found."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.context import ago, did_you_mean, iso, plural, print_json, since_option, state, stderr, stdout
from monitor.cli.lazy_commands import LazyGroup
from monitor.cli.safe_text import literal, titled_link
from monitor.jsonshapes import article_json  # shared with the web API

if TYPE_CHECKING:
    from storage.types import HitListing

app = typer.Typer(help="List and search stored hits and articles.", no_args_is_help=True, cls=LazyGroup)


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


TERMS_SHOWN = 12


def matched_terms(terms, limit: int = TERMS_SHOWN) -> str:
    """The distinct matched words (case-insensitive, in order of appearance), at most `limit`,
    then "+N more": a cut list always says it was cut."""
    first_spelling: dict[str, str] = {}
    for term in terms:
        first_spelling.setdefault(term.text.casefold(), term.text)
    distinct = list(first_spelling.values())
    shown = ", ".join(distinct[:limit])
    return shown + (f", +{len(distinct) - limit} more" if len(distinct) > limit else "")


@app.command("list")
def list_hits(
    ctx: typer.Context,
    rule: Annotated[str | None, typer.Option("--rule", metavar="RULE", help="Only this rule id.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DURATION", help='Only hits newer than this, e.g. "7d".')] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many (newest first).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Hits, newest first, with the terms that matched, the article id and the story id."""
    from rich.table import Table

    from storage import hits

    moment = since_option(since)
    db = state(ctx).database()
    rows = hits.list_hits(db, since=moment, rule_id=rule, limit=limit)
    if rule and not rows:
        _check_rule_exists(ctx, rule, hits.stored_rule_ids(db))
    if as_json:
        print_json([hit_json(r) for r in rows])
        return
    now = datetime.now(UTC)
    title = f"newest {plural(len(rows), 'hit')} (--limit for more)" if len(rows) == limit else plural(len(rows), "hit")
    table = Table(title=title, title_justify="left")
    for column in ("when", "severity", "rule", "title", "matched", "article", "story", "feed"):
        table.add_column(column, overflow="fold", justify="right" if column == "article" else "left")
    for row in rows:
        terms = matched_terms(row.hit.terms, limit=len(row.hit.terms))
        story = f"{row.article.story_id}" + (f" ({row.story_size} outlets)" if row.story_size > 1 else "")
        table.add_row(
            ago(row.hit.created_at, now), row.hit.severity, literal(row.hit.rule_id),
            titled_link(row.article.title, row.article.url or row.article.link), literal(terms),
            str(row.article.id), story, literal(row.article.feed_name),
        )
    stdout.print(table)
    if rows:
        stdout.print("`rules explain RULE --article ID` says why an article fired; `stories show ID` lists a "
                     "story's outlets", style="dim", markup=False)


def _check_rule_exists(ctx: typer.Context, rule: str, stored: set[str]) -> None:
    """No hits for --rule: fine for a configured rule, a typo otherwise (exit 2)."""
    if rule in stored:
        return
    known = stored | state(ctx).configured_rule_ids()
    if rule not in known:
        raise typer.BadParameter(f"no rule {rule!r} in the rules files or the stored hits{did_you_mean(rule, known)}",
                                 param_hint="--rule")


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(metavar="QUERY", help='Full-text query: words, "phrases", OR, NOT, prefix*, title:word '
                                              '(SQLite FTS5; hyphenated words are searched as phrases).')],
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many results.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Search the title and summary of every stored article (hits or not), best match first."""
    from rich.table import Table

    from storage import articles
    from storage.exceptions import DatabaseMissingError, SearchSyntaxError, StorageError

    cli = state(ctx)
    catch_up = True
    try:
        db = cli.database(write=True)  # indexes what was stored since the last indexing
    except StorageError as error:
        if isinstance(error, DatabaseMissingError):
            raise
        db, catch_up = cli.database(), False  # a read-only file: search what is indexed
        unindexed = articles.unindexed_count(db)
        if unindexed:
            stderr.print(f"note: the database cannot be written, so the {plural(unindexed, 'article')} stored since "
                         "the last indexing are not searched", markup=False)
    try:
        found = articles.search_articles(db, query, limit, catch_up=catch_up)
    except SearchSyntaxError as error:
        raise typer.BadParameter(
            f"{error}; quote phrases (\"rare earths\"), close every quote and parenthesis, write operators "
            "in capitals (AND, OR, NOT)", param_hint="QUERY",
        ) from None
    if as_json:
        print_json([article_json(a) for a in found])
        return
    table = Table(title=literal(f"{plural(len(found), 'article')} matching {query!r}"), title_justify="left")
    for column in ("id", "published", "title", "feed"):
        table.add_column(column, overflow="fold")
    for article in found:
        table.add_row(str(article.id), iso(article.published_at) or "-",
                      titled_link(article.title, article.url or article.link), literal(article.feed_name))
    stdout.print(table)
