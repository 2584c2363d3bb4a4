"""`stories show ID`: the outlets that carried one story."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from monitor.cli.context import EXIT_PROBLEMS, iso, print_json, state, stderr, stdout
from storage.deliveries import story_members

app = typer.Typer(help="Stories: reprints of one article grouped together.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    story_id: Annotated[int, typer.Argument(help="Story id (the `story_id` of `hits list --json`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array of member articles.")] = False,
) -> None:
    """List the member articles of a story: feed, title, link, published time."""
    members = story_members(state(ctx).database(), story_id)
    if not members:
        stderr.print(f"no story with id {story_id}")
        raise typer.Exit(EXIT_PROBLEMS)
    if as_json:
        print_json([{"article_id": m.article_id, "feed": m.feed_name, "title": m.title, "url": m.url,
                     "published": iso(m.published_at)} for m in members])
        return
    table = Table(title=f"Story {story_id}: {len(members)} articles", title_justify="left")
    for column in ("article", "feed", "published", "title"):
        table.add_column(column, overflow="fold")
    for member in members:
        table.add_row(str(member.article_id), member.feed_name, iso(member.published_at) or "-",
                      f"{member.title}\n[dim]{member.url}[/dim]")
    stdout.print(table)
