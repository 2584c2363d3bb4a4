"""A story's notifications on the console (issue 14): one row per notification and channel,
naming every rule it carries, and an escalation shown as an update."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from storage import deliveries, hits, open_database, transaction
from storage.types import Hit

HTML = {"accept": "text/html"}


def notification_rows(html: str) -> list[str]:
    section = html.split('<div id="notifications">', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<tr class="status-[^"]*" data-delivery="\d+">.*?</tr>', section, re.S)


def story_with_rules(archive, count: int) -> tuple[int, list[str]]:
    """A story whose one console notification carries `count` distinct rules (from the database)."""
    db = open_database(archive)
    try:
        for alert in deliveries.list_deliveries(db, limit=1000):
            if len(alert.rule_ids) == count:
                return alert.article.story_id, list(alert.rule_ids)
    finally:
        db.close()
    raise AssertionError(f"the archive has no notification with {count} rules")


def test_a_story_with_three_rules_shows_one_notification_naming_all_three(client, archive):
    story_id, rules = story_with_rules(archive, 3)
    detail = client.get(f"/api/stories/{story_id}").json()
    assert len(detail["notifications"]) == 1
    notification = detail["notifications"][0]
    assert notification["rules"] == rules and notification["rule"] == rules[0]
    assert notification["update"] is False and notification["update_number"] == 0
    assert notification["channel"] == "console" and notification["webhook_id"].startswith("msg_")
    rows = notification_rows(client.get(f"/stories/{story_id}", headers=HTML).text)
    assert len(rows) == 1
    assert re.findall(r'<span class="rule">([^<]+)</span>', rows[0]) == rules
    assert notification["webhook_id"] in rows[0]
    listed = next(d for d in client.get("/api/deliveries").json() if d["id"] == notification["id"])
    assert listed["rules"] == rules and listed["update"] is False and listed["update_number"] == 0
    deliveries_row = client.get("/deliveries", headers=HTML).text.split(f'data-delivery="{notification["id"]}"', 1)[1]
    assert re.findall(r'<span class="rule">([^<]+)</span>', deliveries_row.split("</tr>", 1)[0]) == rules


def test_an_escalation_after_the_notification_shows_as_an_update(client, archive):
    story_id, rules = story_with_rules(archive, 3)
    first = client.get(f"/api/stories/{story_id}").json()["notifications"][0]
    now = datetime.now(UTC)
    db = open_database(archive)
    with transaction(db):  # what the pipeline writes for a later hit that raises the severity
        escalation = hits.insert_hits(db, [Hit("seized_cargo", story_id, "critical", rule_name="Seized cargo",
                                               story_id=story_id)], now)[0]
        deliveries.open_notification(
            db, hit_id=escalation.id, rule_id="seized_cargo", channel="console", story_id=story_id, severity="critical",
            now=now, send_at=now, idempotency_key=deliveries.notification_key("console", f"story:{story_id}", 1),
            update_number=1, raised_from=first["severity"],
        )
    db.close()
    notifications = client.get(f"/api/stories/{story_id}").json()["notifications"]
    assert [n["update"] for n in notifications] == [False, True]
    update = notifications[1]
    assert update["update_number"] == 1 and update["raised_from"] == first["severity"]
    assert update["rules"] == ["seized_cargo"] and update["severity"] == "critical" and update["status"] == "pending"
    assert notifications[0]["rules"] == rules  # the first notification is unchanged
    rows = notification_rows(client.get(f"/stories/{story_id}", headers=HTML).text)
    assert len(rows) == 2 and "update" not in rows[0]
    assert '<span class="update">update 1:' in rows[1] and "CRITICAL" in rows[1]
    listed = next(d for d in client.get("/api/deliveries").json() if d["id"] == update["id"])
    assert listed["update"] is True and listed["update_number"] == 1
    assert '<span class="update">update 1:' in client.get("/deliveries", headers=HTML).text
