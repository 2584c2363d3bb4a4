"""`stories list|show`: reprints of one article in other outlets, grouped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from monitor.cli.context import EXIT_PROBLEMS, ago, did_you_mean, iso, plural, print_json, since_option, state, stderr, stdout
from monitor.cli.lazy_commands import LazyGroup
from monitor.cli.safe_text import literal, titled_link

app = typer.Typer(help="Stories: reprints of one article grouped together.", no_args_is_help=True, cls=LazyGroup)

OUTLETS_SHOWN = 3


@app.command("list")
def list_stories(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", metavar="DURATION", help='Stories with a hit since, e.g. "7d".')] = "7d",
    rule: Annotated[str | None, typer.Option("--rule", metavar="RULE", help="Only stories this rule hit.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", metavar="SEVERITY",
                                                 help="Only stories of this severity or above.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="At most this many (newest first).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array (the items of the web API's /api/stories).")] = False,
) -> None:
    """Stories with hits, newest hit first: id (for `stories show`), severity, rules, articles, outlets."""
    from rich.table import Table

    from monitor.jsonshapes import story_json
    from storage.console import StoryFilter, story_page
    from storage.types import SEVERITIES

    if severity and severity not in SEVERITIES:
        raise typer.BadParameter(f"expected one of {', '.join(SEVERITIES)}{did_you_mean(severity, SEVERITIES)}",
                                 param_hint="--severity")
    filters = StoryFilter(rule=rule, min_severity=severity, since=since_option(since))
    found = story_page(state(ctx).database(), filters, limit=limit).stories
    if as_json:
        print_json([story_json(story) for story in found])
        return
    now = datetime.now(UTC)
    title = f"newest {plural(len(found), 'story', 'stories')} (--limit for more)" if len(found) == limit \
        else plural(len(found), "story", "stories")
    table = Table(title=f"{title} with hits since {since}", title_justify="left")
    for column in ("story", "severity", "rules", "articles", "first hit", "latest", "title", "outlets"):
        table.add_column(column, overflow="fold", justify="right" if column in ("story", "articles") else "left")
    for story in found:
        outlets = ", ".join(story.outlets[:OUTLETS_SHOWN])
        if len(story.outlets) > OUTLETS_SHOWN:
            outlets += f" +{len(story.outlets) - OUTLETS_SHOWN} more"
        table.add_row(str(story.story_id), story.severity, literal(", ".join(r.rule_id for r in story.rules)),
                      str(story.articles), ago(story.first_hit_at, now), ago(story.newest_hit_at, now),
                      titled_link(story.lead.title, story.lead.url or story.lead.link), literal(outlets))
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
