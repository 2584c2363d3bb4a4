"""`alerts list|retry`: the outbox, what is waiting and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from monitor.cli.context import EXIT_PROBLEMS, EXIT_USAGE, ago, iso, print_json, state, stderr, stdout
from storage import deliveries, transaction
from storage.types import DELIVERY_STATUSES, Alert

app = typer.Typer(help="See and manage alert deliveries (the outbox).", no_args_is_help=True)


def alert_json(alert: Alert) -> dict:
    d = alert.delivery
    return {
        "id": d.id,
        "channel": d.channel,
        "rule": alert.hit.rule_id,  # the notification's highest-severity rule
        "rules": list(alert.rule_ids),  # every rule it carries (issue 14: one notification per story)
        "severity": alert.hit.severity,
        "story_id": d.story_id,
        "update": d.is_update,
        "url": alert.article.url or alert.article.link,
        "title": alert.article.title,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "next_attempt_at": iso(d.next_attempt_at) if d.status in ("pending", "failed") else None,
        "created_at": iso(d.created_at),
        "sent_at": iso(d.sent_at),
        "webhook_id": d.idempotency_key,
    }


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help=f"Only this status: {', '.join(DELIVERY_STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest first).")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Deliveries with status, attempts, last error and next attempt."""
    if status and status not in DELIVERY_STATUSES:
        raise typer.BadParameter(f"expected one of {', '.join(DELIVERY_STATUSES)}", param_hint="--status")
    db = state(ctx).database()
    rows = deliveries.list_deliveries(db, status, limit)
    if as_json:
        print_json([alert_json(a) for a in rows])
        return
    now = datetime.now(UTC)
    table = Table(title=f"{len(rows)} deliveries", title_justify="left")
    for column in ("id", "channel", "status", "tries", "rule", "title", "next / error"):
        table.add_column(column, overflow="fold")
    styles = {"dead": "red", "failed": "yellow", "pending": "cyan"}
    for alert in rows:
        d = alert.delivery
        detail = d.last_error or ""
        if d.status in ("pending", "failed") and d.next_attempt_at:
            detail = f"next try {ago(d.next_attempt_at, now)}" + (f"\n{detail}" if detail else "")
        rules = alert.hit.rule_id + (f" +{len(alert.rule_ids) - 1}" if len(alert.rule_ids) > 1 else "")
        table.add_row(str(d.id), d.channel, d.status, str(d.attempts), rules, alert.article.title,
                      detail, style=styles.get(d.status))
    stdout.print(table)


@app.command("retry")
def retry(
    ctx: typer.Context,
    delivery_id: Annotated[int | None, typer.Argument(help="Delivery id (see `alerts list`).")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Retry every dead delivery.")] = False,
) -> None:
    """Make failed or dead deliveries due now (the running monitor sends them)."""
    if delivery_id is None and not dead:
        raise typer.BadParameter("give a delivery ID or --dead")
    db = state(ctx).database()
    with transaction(db):
        count = deliveries.retry(db, datetime.now(UTC), delivery_id=delivery_id, dead_only=dead)
    if not count:
        stderr.print("nothing to retry (only failed or dead deliveries can be retried)")
        raise typer.Exit(EXIT_PROBLEMS)
    stdout.print(f"{count} deliveries due now; a running monitor sends them, or run `minerals-monitor run --once`")


@app.command("mute")
def mute(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(help="Rule id.")],
    duration: Annotated[str, typer.Option("--for", help='How long, e.g. "6h", "2d".')] = "1h",
) -> None:
    """Mute a rule: its hits are still stored and listed, but not sent."""
    from monitor.durations import format_duration, parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--for") from error
    now = datetime.now(UTC)
    db = state(ctx).database()
    with transaction(db):
        deliveries.set_mute(db, rule, now + timedelta(seconds=seconds), now)
    stdout.print(f"rule {rule} muted for {format_duration(seconds)}; `alerts unmute {rule}` ends it sooner")


@app.command("unmute")
def unmute(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(help="Rule id.")],
) -> None:
    """End a rule's mute; its new hits are sent again."""
    db = state(ctx).database()
    with transaction(db):
        removed = deliveries.remove_mute(db, rule)
    if not removed:
        stderr.print(f"rule {rule} was not muted")
        raise typer.Exit(EXIT_PROBLEMS)
    stdout.print(f"rule {rule} unmuted")


@app.command("test")
def test_channel(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="Channel name from the config.")],
) -> None:
    """Send a sample alert through CHANNEL and report success or the precise failure."""
    import asyncio

    from alerts.exceptions import DeliveryError
    from monitor.channels import build_channel
    from monitor.cli.sample import sample_alert

    config = state(ctx).config()
    if channel not in config.channels:
        known = ", ".join(sorted(config.channels))
        stderr.print(f"no channel named {channel!r} in the config (known: {known})", markup=False)
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
    stdout.print(f"OK: a sample alert was delivered through {channel} ({config.channels[channel].type})")
