"""`alerts list|retry|mute|unmute|test`: the outbox, what is waiting and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from monitor.cli.context import (
    EXIT_PROBLEMS, EXIT_USAGE, ago, did_you_mean, plural, print_json, program_name, state, stderr, stdout,
)
from monitor.cli.lazy_commands import LazyGroup
from monitor.cli.safe_text import literal
from monitor.jsonshapes import delivery_json as alert_json  # shared with the web API
from monitor.jsonshapes import not_sent_reason
from storage.types import DELIVERY_STATUSES as STATUSES

app = typer.Typer(help="See and manage alert deliveries (the outbox).", no_args_is_help=True, cls=LazyGroup)


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", metavar="STATUS", help=f"Only this status: {', '.join(STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many (newest first).")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Deliveries with status, attempts, last error or why not sent, and next attempt."""
    from rich.table import Table

    from storage import deliveries

    if status and status not in STATUSES:
        raise typer.BadParameter(f"expected one of {', '.join(STATUSES)}{did_you_mean(status, STATUSES)}",
                                 param_hint="--status")
    rows = deliveries.list_deliveries(state(ctx).database(), status, limit)
    if as_json:
        print_json([alert_json(a) for a in rows])
        return
    now = datetime.now(UTC)
    title = f"newest {plural(len(rows), 'delivery', 'deliveries')} (--limit for more)" if len(rows) == limit \
        else plural(len(rows), "delivery", "deliveries")
    table = Table(title=title, title_justify="left")
    for column in ("id", "channel", "status", "tries", "rule", "title", "next / error / reason"):
        table.add_column(column, overflow="fold")
    styles = {"dead": "red", "failed": "yellow", "pending": "cyan"}
    for alert in rows:
        d = alert.delivery
        detail = d.last_error or not_sent_reason(alert) or ""
        if d.status in ("pending", "failed") and d.next_attempt_at:
            detail = f"next try {ago(d.next_attempt_at, now)}" + (f"\n{detail}" if detail else "")
        rules = alert.hit.rule_id + (f" +{len(alert.rule_ids) - 1}" if len(alert.rule_ids) > 1 else "")
        table.add_row(str(d.id), literal(d.channel), d.status, str(d.attempts), literal(rules),
                      literal(alert.article.title), literal(detail, keep_lines=True), style=styles.get(d.status))
    stdout.print(table)


@app.command("retry")
def retry(
    ctx: typer.Context,
    delivery_id: Annotated[int | None, typer.Argument(metavar="ID", help="Delivery id (see `alerts list`).")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Retry every dead delivery.")] = False,
) -> None:
    """Make failed or dead deliveries due now (the running monitor sends them)."""
    from storage import deliveries, transaction

    if delivery_id is None and not dead:
        raise typer.BadParameter("give a delivery ID or --dead")
    db = state(ctx).database(write=True)
    with transaction(db):
        count = deliveries.retry(db, datetime.now(UTC), delivery_id=delivery_id, dead_only=dead)
    if not count:
        stderr.print("nothing to retry (only failed or dead deliveries can be retried)")
        raise typer.Exit(EXIT_PROBLEMS)
    stdout.print(f"{plural(count, 'delivery', 'deliveries')} due now; a running monitor sends them, "
                 f"or run `{program_name()} run --once`", markup=False)


def _check_rule(ctx: typer.Context, rule: str) -> None:
    """A mute for a rule that does not exist would look like it worked: exit 2 instead."""
    known = state(ctx).configured_rule_ids()
    if rule not in known:
        raise typer.BadParameter(f"no rule {rule!r} in the rules files{did_you_mean(rule, known)}", param_hint="RULE")


@app.command("mute")
def mute(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(metavar="RULE", help="Rule id.")],
    duration: Annotated[str, typer.Option("--for", metavar="DURATION", help='How long, e.g. "6h", "2d".')] = "1h",
) -> None:
    """Mute a rule: its hits are still stored and listed, but not sent."""
    from monitor.durations import format_duration, parse_duration
    from storage import deliveries, transaction

    try:
        seconds = parse_duration(duration)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--for") from error
    _check_rule(ctx, rule)
    now = datetime.now(UTC)
    db = state(ctx).database(write=True)
    with transaction(db):
        deliveries.set_mute(db, rule, now + timedelta(seconds=seconds), now)
    stdout.print(f"rule {rule} muted for {format_duration(seconds)}; `alerts unmute {rule}` ends it sooner", markup=False)


@app.command("unmute")
def unmute(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(metavar="RULE", help="Rule id.")],
) -> None:
    """End a rule's mute; its new hits are sent again."""
    from storage import deliveries, transaction

    db = state(ctx).database(write=True)
    with transaction(db):
        removed = deliveries.remove_mute(db, rule)
    if not removed:
        stderr.print(f"rule {rule} was not muted", markup=False)
        raise typer.Exit(EXIT_PROBLEMS)
    stdout.print(f"rule {rule} unmuted", markup=False)


@app.command("test")
def test_channel(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="Channel name from the config.")],
) -> None:
    """Send a sample alert through CHANNEL and report success or the precise failure."""
    import asyncio

    from alerts.exceptions import DeliveryError
    from monitor.channels import build_channel
    from monitor.cli.sample import sample_alert

    config = state(ctx).config()
    if channel not in config.channels:
        stderr.print(f"no channel named {channel!r} in the config{did_you_mean(channel, set(config.channels))}",
                     markup=False)
        raise typer.Exit(EXIT_USAGE)

    async def send() -> None:
        built = build_channel(config.channels[channel])
        try:
            await built.send(sample_alert(channel))
        finally:
            await built.aclose()

    try:
        asyncio.run(send())
    except DeliveryError as error:
        kind = "permanent" if error.permanent else "temporary"
        stderr.print(f"FAILED ({kind}): {error}", markup=False)
        raise typer.Exit(EXIT_PROBLEMS) from None
    stdout.print(f"OK: a sample alert was delivered through {channel} ({config.channels[channel].type})", markup=False)
