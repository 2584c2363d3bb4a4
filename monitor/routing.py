"""Where a hit goes and how its delivery starts. Pure: values in, values out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.config import AlertsConfig
from monitor.decide import is_old_news
from rules.types import Rule
from storage.types import Article


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
