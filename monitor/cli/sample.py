"""A realistic sample alert for `alerts test CHANNEL` (never stored)."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.types import Alert, Article, Delivery, Hit, MatchedTerm

TITLE = "Pakistan, US firm sign $500m critical minerals MoU"
SUMMARY = "United States Strategic Metals (USSM) and Pakistan's FWO agreed to export antimony, copper and rare earths."


def sample_alert(channel: str, now: datetime | None = None) -> Alert:
    now = now or datetime.now(UTC)
    start = SUMMARY.index("USSM")
    article = Article(
        feed_id=0,
        entry_key="sample",
        url="https://example.com/minerals-monitor/sample-alert",
        link="https://example.com/minerals-monitor/sample-alert",
        title=TITLE,
        summary=SUMMARY,
        published_at=now,
        id=0,
        feed_name="Minerals Monitor (test alert)",
    )
    hit = Hit(
        rule_id="sample",
        article_id=0,
        severity="info",
        terms=(MatchedTerm("USSM", "summary", start, start + 4, "USSM"),),
        rule_name="Test alert from minerals-monitor alerts test",
        id=0,
        created_at=now,
    )
    delivery = Delivery(
        id=0, hit_id=0, channel=channel, status="pending", attempts=0,
        idempotency_key=f"msg_test_{int(now.timestamp())}", created_at=now,
    )
    return Alert(delivery=delivery, hit=hit, article=article)
