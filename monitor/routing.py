"""Which channels a hit goes to, and in which state its delivery starts. Pure."""

from __future__ import annotations

from datetime import datetime

from monitor.config import AlertsConfig
from monitor.decide import is_old_news
from rules.types import Rule
from storage.types import Article


def channels_for(rule: Rule, alerts: AlertsConfig) -> tuple[str, ...]:
    """The rule's own channels, else the route for its severity, else the defaults."""
    if rule.channels:
        return rule.channels
    if rule.severity in alerts.routes:
        return alerts.routes[rule.severity]
    return alerts.default_channels


def initial_status(article: Article, alerts: AlertsConfig, now: datetime) -> str:
    """`skipped` for old entries seen for the first time (no flood from a new feed)."""
    if is_old_news(article.published_at, now, alerts.skip_older_than):
        return "skipped"
    return "pending"
