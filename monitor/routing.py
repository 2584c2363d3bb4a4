"""Where a hit goes, how its delivery starts, and which notification carries it. Pure: values in, values out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.config import AlertsConfig
from monitor.decide import is_old_news
from rules.types import Rule
from storage.types import SEVERITY_RANK, Article


@dataclass(frozen=True)
class Route:
    channel: str
    digest: str | None = None  # set: this channel gets the hit only in that digest


@dataclass(frozen=True)
class DeliveryPlan:
    channel: str
    status: str  # pending | digest | muted | skipped
    digest: str | None = None


def routes_for(rule: Rule, alerts: AlertsConfig) -> list[Route]:
    """The rule's own channels, else the route for its severity, else the default channels."""
    if rule.channels:
        return [Route(channel, rule.digest) for channel in rule.channels]
    route = alerts.routes.get(rule.severity)
    if route is not None:
        return [Route(channel, rule.digest or route.digest) for channel in route.channels]
    return [Route(channel, rule.digest) for channel in alerts.default_channels]


def plan_delivery(
    route: Route,
    rule: Rule,
    article: Article,
    alerts: AlertsConfig,
    now: datetime,
    *,
    muted: bool,
    throttled: bool,
) -> DeliveryPlan:
    """The initial state of one delivery.

    Old news when first seen is stored but never sent (no flood from a new
    feed); a muted rule's hits are stored and shown, not sent; digest routes
    wait for their digest; a throttled rule's extra hits wait for the next digest.
    """
    if is_old_news(article.published_at, now, alerts.skip_older_than):
        return DeliveryPlan(route.channel, "skipped")
    if muted:
        return DeliveryPlan(route.channel, "muted")
    if route.digest:
        return DeliveryPlan(route.channel, "digest", route.digest)
    if throttled:
        return DeliveryPlan(route.channel, "digest", rule.digest or alerts.throttle_digest)
    return DeliveryPlan(route.channel, "pending")


@dataclass(frozen=True)
class Placement:
    """Which notification of its story an immediate hit goes into, on one channel.

    join: the story's notification still collecting (`delivery_id`); open: the story's first
    notification (update_number 0) or an update (update_number > 0, raised from `raised_from`);
    covered: the story was already notified at this severity or higher, so the hit is stored
    and listed but sends nothing.
    """

    action: str  # join | open | covered
    delivery_id: int | None = None
    update_number: int = 0
    raised_from: str | None = None


def place_hit(
    severity: str,
    collecting: tuple[int, str] | None,
    notified: tuple[str, int] | None,
    notify_updates: str,
) -> Placement:
    """Alertmanager's grouping, with the story as the group: the first hit opens a notification
    that collects for group_wait; later hits join it while it collects; after it left, a hit
    sends an update only when it raises the story's severity (and updates are wanted).

    `collecting`: (id, severity) of the notification still collecting; `notified`: (highest
    severity, last update number) of the story's notifications on this channel so far.
    """
    if collecting is not None:
        return Placement("join", delivery_id=collecting[0])
    if notified is None:
        return Placement("open")
    highest, last_update = notified
    if notify_updates == "escalation" and SEVERITY_RANK.get(severity, -1) > SEVERITY_RANK.get(highest, -1):
        return Placement("open", update_number=last_update + 1, raised_from=highest)
    return Placement("covered")
