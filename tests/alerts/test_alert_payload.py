"""Webhook bodies: the documented JSON event and the Slack, Discord and Teams messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.payload import (
    ADAPTIVE_CARD_CONTENT_TYPE,
    discord_escape,
    discord_message,
    hit_created,
    render_within,
    slack_escape,
    slack_message,
    teams_message,
)
from alerts.render import Segment

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "webhook-payload.schema.json"


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")  # in the [test] extra
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# --- the JSON event ------------------------------------------------------------------


def test_event_envelope_and_content(make_alert):
    alert = make_alert(key="dlv-9")
    event = hit_created(alert)
    assert event["type"] == "hit.created"
    assert event["timestamp"] == "2025-09-08T10:20:31Z"
    data = event["data"]
    assert data["id"] == "dlv-9"
    assert data["rule"] == {"id": "ussm-pakistan", "name": "USSM", "severity": "high"}
    assert data["article"] == {
        "url": alert.article.url,
        "title": alert.article.title,
        "feed": "Example News",
        "published": "2025-09-08T09:45:00Z",
        "summary": alert.article.summary,
    }
    for term in data["terms"]:
        source = data["article"][term["field"]]
        assert source[term["start"] : term["end"]] == term["text"]
    assert {t["term"] for t in data["terms"]} == {"USSM", "antimony", "critical minerals"}
    assert "story" not in data
    # Nothing in the body depends on the time of the attempt: retries send the same bytes.
    assert json.dumps(hit_created(alert)) == json.dumps(event)


def test_story_is_present_with_other_outlets(make_alert, story_member):
    event = hit_created(make_alert(also_reported_by=[story_member(1), story_member(2)], story_id=77))
    story = event["data"]["story"]
    assert story["id"] == 77
    assert [a["feed"] for a in story["articles"]] == ["Outlet 1", "Outlet 2"]
    assert story["articles"][0]["published"] == "2025-09-08T09:56:00Z"


def test_event_validates_against_the_schema(validator, make_alert, story_member):
    plain = hit_created(make_alert())
    with_story = hit_created(make_alert(also_reported_by=[story_member(1)], story_id=None))
    undated = hit_created(make_alert(published_at=None, rule_name="", words=()))
    for event in (plain, with_story, undated):
        errors = sorted(validator.iter_errors(event), key=str)
        assert errors == [], errors
    assert undated["data"]["rule"]["name"] == "ussm-pakistan"


def test_schema_rejects_drift(validator, make_alert):
    event = json.loads(json.dumps(hit_created(make_alert())))
    event["data"]["rule"]["severity"] = "urgent"
    assert not validator.is_valid(event)
    event = json.loads(json.dumps(hit_created(make_alert())))
    event["data"]["article"]["extra"] = 1
    assert not validator.is_valid(event)


def test_schema_example_is_valid_and_consistent(validator):
    schema = json.loads(SCHEMA_PATH.read_text())
    [example] = schema["examples"]
    assert validator.is_valid(example)
    article = example["data"]["article"]
    for term in example["data"]["terms"]:
        assert article[term["field"]][term["start"] : term["end"]] == term["text"]


# --- Slack -------------------------------------------------------------------------------


def test_slack_message_shape(make_alert, story_member):
    message = slack_message(make_alert(also_reported_by=[story_member(1)]))
    assert set(message) == {"text", "blocks"}
    assert message["text"] == "[HIGH] USSM: Pakistan and US sign $500m critical minerals MoU"
    types = [block["type"] for block in message["blocks"]]
    assert types == ["section", "section", "section", "context", "section"]
    first = message["blocks"][0]["text"]
    assert first["type"] == "mrkdwn"
    assert first["text"] == (
        "*[HIGH] USSM*\n*<https://news.example.com/2025/09/pakistan-us-critical-minerals-mou"
        "|Pakistan and US sign $500m critical minerals MoU>*"
    )
    summary = message["blocks"][1]["text"]["text"]
    assert "(*USSM*)" in summary and "*antimony*" in summary
    assert message["blocks"][2]["text"]["text"].startswith("*Why it matched*\n• *USSM* (summary, 2×): ")
    assert message["blocks"][3]["elements"][0]["text"] == "Example News · Mon 8 Sep 2025, 09:45 UTC"
    assert "<https://outlet1.example.org/minerals-mou|Outlet 1: Pakistan, US firm sign minerals deal> — Outlet 1" in (
        message["blocks"][4]["text"]["text"]
    )


def test_slack_escapes_control_characters(make_alert):
    message = slack_message(
        make_alert(title="<!channel> Tom & Jerry <https://evil.example|click>", summary="a > b", words=())
    )
    rendered = json.dumps(message)
    assert "<!channel>" not in rendered and "<https://evil" not in rendered
    assert "&lt;!channel&gt; Tom &amp; Jerry &lt;https://evil.example|click&gt;" in message["text"]


def test_slack_respects_block_limits(make_alert, story_member):
    huge = "antimony " * 2000
    members = [story_member(i, title="T" * 300) for i in range(40)]
    message = slack_message(make_alert(summary=huge, title="x" * 5000, also_reported_by=members))
    for block in message["blocks"]:
        text = block["text"]["text"] if block["type"] == "section" else block["elements"][0]["text"]
        assert len(text) <= 3000
    assert len(message["text"]) <= 500
    assert message["blocks"][-1]["text"]["text"].endswith("_and 30 more_")


# --- Discord -----------------------------------------------------------------------------


def _embed_total(embed: dict) -> int:
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("footer", {}).get("text", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    )


def test_discord_message_shape(make_alert, story_member):
    message = discord_message(make_alert(also_reported_by=[story_member(1)]))
    assert message["allowed_mentions"] == {"parse": []}
    assert message["content"] == "\\[HIGH\\] USSM: Pakistan and US sign $500m critical minerals MoU"
    [embed] = message["embeds"]
    assert embed["title"] == "Pakistan and US sign $500m critical minerals MoU"
    assert embed["url"] == "https://news.example.com/2025/09/pakistan-us-critical-minerals-mou"
    assert embed["timestamp"] == "2025-09-08T09:45:00Z"
    assert "(**USSM**)" in embed["description"]
    names = [f["name"] for f in embed["fields"]]
    assert names == ["Rule", "Severity", "Source", "Why it matched", "Also reported by"]
    assert "[Outlet 1: Pakistan, US firm sign minerals deal](https://outlet1.example.org/minerals-mou)" in (
        embed["fields"][-1]["value"]
    )
    assert isinstance(embed["color"], int)


def test_discord_respects_limits(make_alert, story_member):
    members = [story_member(i, title="*" * 300) for i in range(40)]
    message = discord_message(
        make_alert(title="_" * 1000, summary="antimony " * 3000, rule_name="R" * 3000, also_reported_by=members)
    )
    [embed] = message["embeds"]
    assert len(message["content"]) <= 2000
    assert len(embed["title"]) <= 256
    assert len(embed["description"]) <= 4096
    assert len(embed["fields"]) <= 25
    assert all(len(f["value"]) <= 1024 and f["value"] for f in embed["fields"])
    assert _embed_total(embed) <= 6000


def test_discord_escapes_markdown_and_mentions(make_alert):
    message = discord_message(make_alert(title="@everyone **free** [link](https://evil.example)", words=()))
    assert message["embeds"][0]["title"] == "@everyone \\*\\*free\\*\\* \\[link\\](https://evil.example)"
    assert message["allowed_mentions"] == {"parse": []}


# --- Teams ---------------------------------------------------------------------------------


def test_teams_message_shape(make_alert, story_member):
    message = teams_message(make_alert(also_reported_by=[story_member(1)]))
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD_CONTENT_TYPE == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.4"
    kinds = [element["type"] for element in card["body"]]
    assert kinds == ["TextBlock", "TextBlock", "TextBlock", "FactSet", "TextBlock", "TextBlock"]
    assert card["body"][0]["text"] == "HIGH · USSM"
    assert card["body"][1]["text"] == "Pakistan and US sign $500m critical minerals MoU"
    assert "**antimony**" in card["body"][2]["text"]
    facts = {fact["title"]: fact["value"] for fact in card["body"][3]["facts"]}
    assert facts["Severity"] == "HIGH" and facts["Source"] == "Example News"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open article", "url": "https://news.example.com/2025/09/pakistan-us-critical-minerals-mou"}
    ]


def test_teams_escapes_markdown(make_alert):
    card = teams_message(make_alert(title="**free** [link](https://evil.example) (FWO)", words=()))
    title = card["attachments"][0]["content"]["body"][1]["text"]
    assert title == "\\*\\*free\\*\\* \\[link\\](https://evil.example) (FWO)"


def test_teams_without_http_link_has_no_action(make_alert):
    card = teams_message(make_alert(url="javascript:alert(1)"))["attachments"][0]["content"]
    assert "actions" not in card
    assert "javascript:" not in json.dumps(card)


# --- fitting escaped text ------------------------------------------------------------------


@given(
    st.lists(st.tuples(st.text(alphabet="ab &<>*_\\", max_size=30), st.booleans()), max_size=8),
    st.integers(min_value=5, max_value=120),
)
def test_render_within_never_cuts_an_escape(pieces, limit):
    segments = [Segment(text, marked) for text, marked in pieces]
    for escape, mark in ((slack_escape, lambda s: f"*{s}*"), (discord_escape, lambda s: f"**{s}**")):
        out = render_within(segments, limit, escape=escape, mark=mark)
        assert len(out) <= limit
        if escape is slack_escape:
            # Every '&' starts a whole entity.
            assert all(re.match(r"&(amp|lt|gt);", out[i:]) for i in range(len(out)) if out[i] == "&")
            assert "<" not in out and ">" not in out
        else:
            # No dangling backslash: escapes come in pairs with their character.
            assert not re.search(r"(?<!\\)(\\\\)*\\$", out.removesuffix("…"))
