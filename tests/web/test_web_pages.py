"""The console's pages and actions over httpx's ASGI transport, on a real archive."""

from __future__ import annotations

import re

import pytest

from storage import deliveries, open_database
from tests.web.conftest import HOSTILE_TITLE, WEBHOOK_SECRET

HTML = {"accept": "text/html"}


def story_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-story="(\d+)"', html)]


def test_stories_page_shows_severity_rules_terms_and_outlets(client):
    page = client.get("/", headers=HTML)
    assert page.status_code == 200
    html = page.text
    seed = html.split("Pakistan, US sign $500m critical minerals MoU")[0].rsplit('<li class="story"', 1)[1]
    assert "CRITICAL" in seed  # the story's highest severity
    body = html.split(seed, 1)[1].split("</li>\n</ol>")[0]
    for rule in ("us_pakistan_minerals", "ussm", "antimony"):
        assert f'<span class="rule">{rule}</span>' in html
    assert "<mark>USSM</mark>" in body or "<mark>USSM</mark>" in html
    assert "The News Pakistan" in html and "Dawn Business" in html  # outlets of the MoU story
    assert len(story_ids(html)) >= 5


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ("rule=ussm", lambda story: any(r["rule"] == "ussm" for r in story["rules"])),
        ("severity=critical", lambda story: story["severity"] == "critical"),
        ("q=tungsten", lambda story: True),
    ],
)
def test_filters_narrow_the_stories(client, query, check):
    everything = client.get("/api/stories?limit=200").json()["stories"]
    narrowed = client.get(f"/api/stories?{query}&limit=200").json()["stories"]
    assert 0 < len(narrowed) < len(everything)
    assert all(check(story) for story in narrowed)
    page = client.get(f"/?{query}", headers=HTML).text
    assert story_ids(page) == [s["story_id"] for s in narrowed]


def test_feed_and_time_filters(client):
    stories = client.get("/api/stories?limit=200").json()["stories"]
    feeds = {f["name"]: f["id"] for f in client.get("/api/feeds").json()}
    narrowed = client.get(f"/api/stories?feed={feeds['Dawn Business']}&limit=200").json()["stories"]
    assert narrowed and len(narrowed) < len(stories)
    assert all("Dawn Business" in s["outlets"] for s in narrowed)
    assert client.get("/api/stories?since=2000-01-01").json()["stories"]
    assert client.get("/api/stories?until=2000-01-01").json()["stories"] == []


def test_bad_filters_are_one_line_errors(client):
    answer = client.get("/api/stories?q=%22unbalanced")
    assert answer.status_code == 400
    assert "not a valid full-text query" in answer.json()["error"]
    answer = client.get("/api/stories?severity=urgent")
    assert answer.status_code == 400 and answer.json()["error"].startswith("severity: expected one of")
    page = client.get("/?since=yesterdayish", headers=HTML)
    assert page.status_code == 400 and "since: expected a duration" in page.text


def test_pages_of_stories_cover_every_story_once(client):
    everything = [s["story_id"] for s in client.get("/api/stories?limit=200").json()["stories"]]
    seen, url = [], "/api/stories?limit=2"
    while url:
        answer = client.get(url).json()
        seen += [s["story_id"] for s in answer["stories"]]
        url = answer["next"]
    assert seen == everything  # newest first, nothing twice, nothing missed
    html = client.get("/?limit=2", headers=HTML).text
    assert "Older stories" in html and "after=" in html


def test_story_page_lists_articles_outlets_and_notifications(client):
    seed = next(s for s in client.get("/api/stories?limit=200").json()["stories"] if "USSM" in s["title"] or
                s["rule"] == "us_pakistan_minerals")
    detail = client.get(f"/api/stories/{seed['story_id']}").json()
    assert len(detail["articles"]) >= 2  # reprints joined the story
    assert {n["channel"] for n in detail["notifications"]} == {"console"}
    page = client.get(f"/stories/{seed['story_id']}", headers=HTML).text
    for article in detail["articles"]:
        assert article["feed"] in page
    assert page.count('<tr class="status-') >= len(detail["notifications"])
    assert client.get("/stories/999999", headers=HTML).status_code == 404
    assert client.get("/api/stories/999999").status_code == 404


def test_article_text_is_escaped_everywhere(client):
    for url in ("/", "/feeds/stories.atom", "/deliveries"):  # JSON carries it as data (application/json, nosniff)
        body = client.get(url, headers=HTML).text
        assert "<script>alert" not in body and "<b>exports</b>" not in body and "onerror=alert(1)>" not in body
    assert "&lt;script&gt;" in client.get("/", headers=HTML).text
    assert HOSTILE_TITLE in [s["title"] for s in client.get("/api/stories?limit=200").json()["stories"]]


def test_every_answer_has_a_strict_content_security_policy(client):
    for url in ("/", "/feeds", "/deliveries", "/rules", "/api/stories", "/metrics", "/healthz", "/static/console.css"):
        answer = client.get(url, headers=HTML)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
    page = client.get("/", headers=HTML).text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script
    assert " style=" not in page and "<style" not in page  # no inline style
    assert "https://" not in page.split("<body", 1)[0]  # every asset from the package, no CDN


def test_secrets_are_never_rendered(make_client):
    client = make_client(password="correct horse battery staple")
    auth = ("monitor", "correct horse battery staple")
    for url in ("/", "/feeds", "/deliveries", "/rules", "/api/feeds", "/api/deliveries", "/metrics", "/api/stories"):
        body = client.get(url, headers=HTML, auth=auth).text
        assert WEBHOOK_SECRET not in body and "correct horse" not in body


def test_retry_one_dead_delivery_then_all(client, archive):
    dead = client.get("/api/deliveries?status=dead").json()
    assert len(dead) == 1
    token = client.csrf()
    answer = client.post(f"/deliveries/{dead[0]['id']}/retry", data={"csrf_token": token}, headers=HTML)
    assert answer.status_code == 200 and f"delivery {dead[0]['id']} is due now" in answer.text
    assert client.get("/api/deliveries?status=dead").json() == []
    db = open_database(archive)
    assert deliveries.list_deliveries(db, "pending")[0].delivery.id == dead[0]["id"]
    db.execute("UPDATE deliveries SET status = 'dead' WHERE id IN (SELECT id FROM deliveries ORDER BY id LIMIT 2)")
    db.close()
    answer = client.post("/deliveries/retry-dead", data={"csrf_token": token}, headers=HTML)
    assert "2 dead deliveries due now" in answer.text
    again = client.post(f"/deliveries/{dead[0]['id']}/retry", data={"csrf_token": token}, headers=HTML)
    assert again.status_code == 409  # pending now: nothing to retry


def test_mute_and_unmute_a_rule(client):
    token = client.csrf()
    answer = client.post("/mutes", data={"csrf_token": token, "rule": "ussm", "for": "6h"}, headers=HTML)
    assert "rule ussm muted for 6h" in answer.text
    assert '<span class="rule">ussm</span> until' in client.get("/deliveries", headers=HTML).text
    answer = client.post("/mutes/ussm/delete", data={"csrf_token": token}, headers=HTML)
    assert "rule ussm unmuted" in answer.text
    bad = client.post("/mutes", data={"csrf_token": token, "rule": "ussm", "for": "soon"}, headers=HTML)
    assert bad.status_code == 400 and "not muted: for:" in bad.text


def test_feeds_page_lists_failing_first_then_add_check_remove(client, feed_server):
    from tests.behaviour_server import rss

    page = client.get("/feeds", headers=HTML).text
    rows = re.findall(r"<strong>([^<]+)</strong><div class=\"url\">", page)
    assert rows[0] == "Mining Wire" and "HTTP 503 Service Unavailable" in page and "1 failing" in page
    feed_server.set_file("/new.xml", rss(("n1", "Tungsten find", "in Gilgit"), title="New wire"))
    token = client.csrf()
    checked = client.post("/feeds/check", data={"csrf_token": token, "url": feed_server.url("/new.xml")},
                          headers={**HTML, "hx-request": "true"})
    assert checked.status_code == 200 and "OK" in checked.text and "Tungsten find" in checked.text
    added = client.post("/feeds/add", data={"csrf_token": token, "url": feed_server.url("/new.xml")}, headers=HTML)
    assert "added: New wire" in added.text
    assert any(f["url"] == feed_server.url("/new.xml") for f in client.get("/api/feeds").json())
    removed = client.post("/feeds/remove", data={"csrf_token": token, "url": feed_server.url("/new.xml")}, headers=HTML)
    assert "removed" in removed.text
    assert not any(f["url"] == feed_server.url("/new.xml") for f in client.get("/api/feeds").json())


def test_rules_page_playground_and_backtest(client):
    page = client.get("/rules", headers=HTML).text
    assert '<strong>ussm</strong>' in page and "pass</span>" in page and "failing</span>" not in page
    token = client.csrf()
    tried = client.post("/rules/playground", headers={**HTML, "x-csrf-token": token},
                        data={"query": "antimony AND @ussm", "title": "USSM to buy antimony", "text": ""})
    assert "The query matches" in tried.text and "<mark>antimony</mark>" in tried.text and "<mark>USSM</mark>" in tried.text
    broken = client.post("/rules/playground", headers={**HTML, "x-csrf-token": token},
                         data={"query": "antimony AND (", "title": "x", "text": ""})
    assert 'class="error"' in broken.text and "query:" in broken.text
    result = client.post("/rules/backtest", headers={**HTML, "x-csrf-token": token},
                         data={"query": "antimony OR tungsten", "replaces": "antimony", "days": "30"})
    assert result.status_code == 200
    gained = int(re.search(r"\+(\d+) gained", result.text).group(1))
    assert gained >= 1 and 'class="gained"' in result.text  # the tungsten stories antimony missed


def test_csrf_and_cross_site_posts_are_refused(client):
    assert client.post("/deliveries/retry-dead", headers=HTML).status_code == 403
    assert client.post("/deliveries/retry-dead", data={"csrf_token": "forged"}, headers=HTML).status_code == 403
    token = client.csrf()
    cross = client.post("/deliveries/retry-dead", data={"csrf_token": token},
                        headers={**HTML, "origin": "https://evil.example"})
    assert cross.status_code == 403
    ok = client.post("/deliveries/retry-dead", data={"csrf_token": token}, headers={**HTML, "origin": "http://127.0.0.1:8765"})
    assert ok.status_code == 200


def test_a_rebinding_host_name_is_refused_on_loopback(client):
    assert client.get("/", headers={**HTML, "host": "attacker.example:8765"}).status_code == 421
    assert client.get("/", headers={**HTML, "host": "localhost:8765"}).status_code == 200


@pytest.mark.parametrize("gathered", [True, False], ids=["search gathered first", "search checked per story"])
def test_pages_of_a_search_cover_every_match_once(client, monkeypatch, gathered):
    from storage import console

    # Both plans of a search: its stories gathered up front (few matches), or checked as the walk meets them.
    monkeypatch.setattr(console, "GATHER_TEXT_MATCHES", 10_000 if gathered else 0)
    client.console.cache.seconds = 0
    everything = [s["story_id"] for s in client.get("/api/stories?q=antimony OR tungsten&limit=200").json()["stories"]]
    assert len(everything) >= 3
    seen, url = [], "/api/stories?q=antimony OR tungsten&limit=1"
    while url:
        answer = client.get(url).json()
        seen += [s["story_id"] for s in answer["stories"]]
        url = answer["next"]
    assert seen == everything
