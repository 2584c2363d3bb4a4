"""Our own payload never kills a delivery (issue 15.4), feed text is cleaned before it leaves
(15.5), and a webhook digest is one message per channel, in parts when its limits require (15.3).

Every format is checked against its service's documented limits with extreme inputs: a
2,000-character title, a 50 KB summary, 5 KB URLs, 60 outlets, 30+ terms.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import replace
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from alerts.console import ConsoleChannel
from alerts.digest import digest_parts
from alerts.dispatch import Dispatcher
from alerts.email import DIGEST_HTML_LIMIT, EmailChannel
from alerts.payload import MAX_BODY_BYTES, TEAMS_CARD_BYTES, build_payload, hit_created
from alerts.webhook import WebhookChannel
from storage import deliveries, transaction
from storage.types import MatchedTerm
from tests.alerts.conftest import build_alert, build_story_member
from tests.alerts.test_dispatch import Clock, outbox  # noqa: F401 (the fixture)
from tests.conftest import NOW

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "webhook-payload.schema.json"
LONG_URL = "https://news.example.com/" + "a" * 5000 + "?utm=x"
CONTROLS = "\x00\x07\x1b[31m\x7f\u202egnp.exe"


def extreme_alert():
    summary = ("Antimony exports from Balochistan rose again. " * 1100)[:50_000]
    terms = tuple(MatchedTerm("antimony", "summary", m.start(), m.end(), m.group())
                  for m in re.finditer("Antimony", summary))[:40]
    members = [replace(build_story_member(i), url=LONG_URL + str(i), title="T" * 300) for i in range(60)]
    return build_alert(title="Antimony " * 222, summary=summary, terms=terms, url=LONG_URL,
                       also_reported_by=members, story_id=7)


def body_bytes(body: dict) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def test_the_json_event_stays_within_its_documented_size_and_schema():
    jsonschema = pytest.importorskip("jsonschema")
    event = hit_created(extreme_alert())
    assert body_bytes(event) <= MAX_BODY_BYTES
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(event)
    data = event["data"]
    assert len(data["terms"]) <= 30 and data["terms_total"] == 40
    assert data["story"]["more"] >= 40 and len(data["story"]["outlets"]) <= 60
    for term in data["terms"]:  # every term kept still indexes the text sent
        assert data["article"][term["field"]][term["start"]:term["end"]] == term["text"]


def _links_balanced(text: str, opening: str, closing: str) -> bool:
    return text.count(opening) == text.count(closing)


def test_slack_discord_and_teams_stay_within_their_limits_and_cut_at_whole_items():
    alert = extreme_alert()
    slack = build_payload(alert, "slack")
    assert len(slack["blocks"]) <= 50 and len(slack["text"]) <= 3000
    for block in slack["blocks"]:
        text = block["text"]["text"] if block["type"] == "section" else block["elements"][0]["text"]
        assert len(text) <= 3000
        assert _links_balanced(text, "<", ">")  # no link cut in the middle
        assert LONG_URL not in text  # a 5 KB URL is never made a link
    discord = build_payload(alert, "discord")
    [embed] = discord["embeds"]
    assert len(discord["content"]) <= 2000 and len(embed["title"]) <= 256
    assert len(embed.get("description", "")) <= 4096 and len(embed["fields"]) <= 25
    assert all(len(field["value"]) <= 1024 for field in embed["fields"])
    assert len(embed.get("url", "")) <= 2048
    assert all(_links_balanced(field["value"], "](", ")") or "](" not in field["value"] for field in embed["fields"])
    teams = build_payload(alert, "teams")
    assert body_bytes(teams) <= TEAMS_CARD_BYTES
    card = teams["attachments"][0]["content"]
    assert all(len(action["url"]) <= 2048 for action in card.get("actions", []))
    for body in (slack, discord, teams):
        assert body_bytes(body) <= MAX_BODY_BYTES


def test_control_characters_and_bidi_overrides_never_leave():
    alert = build_alert(title=f"Antimony deal {CONTROLS}", summary=f"USSM {CONTROLS} antimony", words=("USSM",),
                        feed_name=f"Wire{CONTROLS}")
    for format in ("json", "slack", "discord", "teams"):
        rendered = json.dumps(build_payload(alert, format), ensure_ascii=False)
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", rendered.replace("\\n", "")), format
        assert "\\u0000" not in rendered and "\\u001b" not in rendered, format
    channel = EmailChannel("m", host="127.0.0.1", port=25, sender="a@example.org", recipients=["b@example.org"])
    message = message_from_bytes(channel.build_message(alert).as_bytes(), policy=default_policy)
    assert not re.search("[\x00-\x1f\u202e]", message["Subject"])
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "\x00" not in text and "\u202e" not in text and "\u202e" not in html
    assert 'dir="auto"' in html and "<bdi>" in html and "overflow-wrap:anywhere" in html


def test_an_urdu_subject_keeps_its_spaces():
    # CPython's folder (gh-144156) joined "معدنیات کا" into one word at an encoded-word boundary.
    titles = ["دیے امریکہ معاہدہ کے نے او نے", "ایف معدنیات کے نے پاکستان ایف ڈبلیو antimony پاکستان copper او معاہدہ کا دیے"]
    channel = EmailChannel("m", host="127.0.0.1", port=25, sender="a@example.org", recipients=["b@example.org"])
    for title in titles:
        raw = channel.build_message(build_alert(title=title, words=())).as_bytes()
        assert max(len(line) for line in raw.split(b"\r\n")[:12]) <= 78
        assert message_from_bytes(raw, policy=default_policy)["Subject"] == f"[HIGH] USSM: {title}"


def digest_alerts(count: int):
    return [build_alert(key=f"d{i}", article_id=5000 + i, title=f"Antimony story {i} " + "x" * 200,
                        url=f"https://news.example.com/{i}", words=("Antimony",)) for i in range(count)]


@pytest.mark.parametrize("format", ["json", "slack", "discord", "teams"])
def test_a_500_story_digest_is_a_few_messages_each_within_limits(format):
    alerts = digest_alerts(500)
    parts = digest_parts(format, "hourly digest", alerts)
    assert 1 < len(parts) <= 60
    assert sorted(i for part in parts for i in part.delivery_ids) == sorted(a.delivery.id for a in alerts)
    assert [p.key for p in parts] == [p.key for p in digest_parts(format, "hourly digest", alerts)]  # idempotent
    for part in parts:
        assert body_bytes(part.body) <= (TEAMS_CARD_BYTES if format == "teams" else MAX_BODY_BYTES)
        if format == "slack":
            assert len(part.body["blocks"]) <= 50
            assert all(len(block["text"]["text"]) <= 3000 for block in part.body["blocks"])
        if format == "discord":
            [embed] = part.body["embeds"]
            assert len(embed["description"]) <= 4096
            assert len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"]) <= 6000
        if format == "json":
            assert part.body["data"]["id"] == part.key and part.body["type"] == "digest.created"


def test_a_webhook_digest_sends_parts_and_a_rate_limit_keeps_only_the_rest(outbox, webhook_receiver, webhook_secret, reply):
    """Discord-like: after 3 requests, 429. The parts sent stay sent; the rest wait, and the next
    digest sends only those (before: the same first ones again, the rest never)."""
    db, add = outbox
    for _ in range(300):
        hit_id = add([])
        with transaction(db):
            deliveries.enqueue(db, hit_id, "hook", NOW, "digest", rule_id="ussm", digest="hourly")
    receiver = webhook_receiver(secret=webhook_secret, script=[reply(204)] * 3 + [reply(429, headers={"Retry-After": "60"})])

    async def digest() -> int:
        hook = WebhookChannel("hook", url=receiver.url, secret=webhook_secret, format="discord")
        try:
            return await Dispatcher(db, {"hook": hook}, now=Clock()).send_digest("hourly", "hourly digest")
        finally:
            await hook.aclose()

    first = asyncio.run(digest())
    assert 0 < first < 300 and len(receiver.requests) == 4  # three parts sent, the fourth refused: stop
    waiting = deliveries.waiting_for_digest(db, "hourly")["hook"]
    assert len(waiting) == 300 - first
    receiver.script.clear()  # the service accepts again
    second = asyncio.run(digest())
    assert first + second == 300 and not deliveries.waiting_for_digest(db, "hourly")
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(ids[:3] + ids[4:]) == len(set(ids[:3] + ids[4:]))  # nothing sent twice
    assert all(request.verified for request in receiver.requests)


def test_an_email_digest_over_100_kb_lists_the_first_stories_and_says_how_many_more():
    channel = EmailChannel("m", host="127.0.0.1", port=25, sender="a@example.org", recipients=["b@example.org"],
                           console_url="http://127.0.0.1:8765/stories")
    message = channel.build_digest("daily digest", digest_alerts(600))
    html = message.get_body(("html",)).get_content()
    assert len(html.encode("utf-8")) <= DIGEST_HTML_LIMIT
    shown = html.count('href="https://news.example.com/')
    assert 0 < shown < 600 and f"and {600 - shown} more stories" in html
    assert 'href="http://127.0.0.1:8765/stories"' in html


def test_a_console_digest_is_one_line_per_story():
    out = io.StringIO()
    alerts = digest_alerts(3) + [build_alert(key="same-story", article_id=5000, rule_id="antimony", severity="medium",
                                             words=("Antimony",), title="Antimony story 0 " + "x" * 200)]
    asyncio.run(ConsoleChannel("console", out).send_digest("hourly digest", alerts))
    lines = out.getvalue().splitlines()
    assert lines[0] == "== hourly digest: 4 alerts ==" and len(lines) == 4  # 3 stories
    assert "+1 rule" in lines[1]
