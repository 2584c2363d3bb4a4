"""`stories list|show`: reprints of one article in other outlets, grouped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from monitor.cli.context import EXIT_PROBLEMS, ago, iso, plural, print_json, since_option, state, stderr, stdout
from monitor.cli.safe_text import literal, titled_link

app = typer.Typer(help="Stories: reprints of one article grouped together.", no_args_is_help=True)

FEEDS_SHOWN = 3


@app.command("list")
def list_stories(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", metavar="DURATION", help='Stories that gained an article since, e.g. "7d".')] = "7d",
    min_articles: Annotated[int, typer.Option("--min-articles", min=1, metavar="N",
                                              help="Only stories with at least this many articles.")] = 2,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many (newest first).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Stories carried by several outlets, newest first: id (for `stories show`), size, feeds, hits."""
    from rich.table import Table

    from storage.stories import list_stories as stored_stories

    moment = since_option(since)
    found = stored_stories(state(ctx).database(), moment, min_articles=min_articles, limit=limit)
    if as_json:
        print_json([{"story_id": s.story_id, "articles": s.articles, "first_seen_at": iso(s.first_seen_at),
                     "last_seen_at": iso(s.last_seen_at), "title": s.title, "url": s.url, "feeds": list(s.feeds),
                     "hits": s.hits} for s in found])
        return
    now = datetime.now(UTC)
    table = Table(title=f"{plural(len(found), 'story', 'stories')} with {min_articles}+ articles since {since}",
                  title_justify="left")
    for column in ("story", "articles", "hits", "first seen", "latest", "title", "feeds"):
        table.add_column(column, overflow="fold", justify="right" if column in ("story", "articles", "hits") else "left")
    for story in found:
        feeds = ", ".join(story.feeds[:FEEDS_SHOWN])
        if len(story.feeds) > FEEDS_SHOWN:
            feeds += f" +{len(story.feeds) - FEEDS_SHOWN} more"
        table.add_row(str(story.story_id), str(story.articles), str(story.hits), ago(story.first_seen_at, now),
                      ago(story.last_seen_at, now), titled_link(story.title, story.url), literal(feeds))
    stdout.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    story_id: Annotated[int, typer.Argument(metavar="ID", help="Story id (the story column of `hits list` and `stories list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array of member articles.")] = False,
) -> None:
    """List the member articles of a story: feed, title, link, published time."""
    from rich.table import Table

    from storage.deliveries import story_members

    members = story_members(state(ctx).database(), story_id)
    if not members:
        stderr.print(f"no story with id {story_id} (`stories list` shows the recent ones)", markup=False)
        raise typer.Exit(EXIT_PROBLEMS)
    if as_json:
        print_json([{"article_id": m.article_id, "feed": m.feed_name, "title": m.title, "url": m.url,
                     "published": iso(m.published_at)} for m in members])
        return
    table = Table(title=f"Story {story_id}: {plural(len(members), 'article')}", title_justify="left")
    for column in ("article", "feed", "published", "title"):
        table.add_column(column, overflow="fold")
    for member in members:
        table.add_row(str(member.article_id), literal(member.feed_name), iso(member.published_at) or "-",
                      titled_link(member.title, member.url))
    stdout.print(table)
