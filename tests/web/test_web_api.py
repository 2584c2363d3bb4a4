"""The JSON API, the Atom feeds, /metrics and the health endpoints, and who may read them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import feedparser
import jsonschema
import lxml.etree as ET
import pytest
import rnc2rng
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli.alerts import alert_json
from monitor.cli.feeds import feed_json
from monitor.cli.hits import hit_json
from monitor.config import ConfigError, parse_config
from monitor.web.atom import entry_id
from storage import deliveries, feeds, hits, open_database
from tests.conftest import DATA

OPENAPI = yaml.safe_load((resources.files("monitor.web") / "openapi.yaml").read_text())
ATOM_NS = "{http://www.w3.org/2005/Atom}"


def schema(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}


def valid(instance, name: str) -> None:
    jsonschema.validate(instance, schema(name))


def atom_schema() -> ET.RelaxNG:
    # RFC 4287's own grammar (Appendix B), converted from the compact syntax; the converter
    # declares the RFC's empty `local` prefix, which XML does not allow and nothing here uses.
    rng = rnc2rng.dumps(rnc2rng.loads((DATA / "atom-rfc4287.rnc").read_text())).replace('xmlns:local=""', "")
    return ET.RelaxNG(ET.fromstring(rng.encode()))


def test_api_answers_match_the_openapi_file(client):
    stories = client.get("/api/stories?limit=3").json()
    assert set(stories) == {"stories", "next"} and len(stories["stories"]) == 3
    for story in stories["stories"]:
        valid(story, "Story")
    valid(client.get(f"/api/stories/{stories['stories'][0]['story_id']}").json(), "StoryDetail")
    for feed in client.get("/api/feeds").json():
        valid(feed, "Feed")
    listed = client.get("/api/deliveries").json()
    assert listed
    for delivery in listed:
        valid(delivery, "Delivery")
    valid(client.get("/readyz").json(), "Readiness")
    assert client.get("/api/openapi.json").json()["paths"].keys() == OPENAPI["paths"].keys()
    for path in ("/api/stories", "/api/stories/{story_id}", "/api/feeds", "/api/deliveries"):
        assert path in OPENAPI["paths"]


def test_api_uses_the_cli_json_names(client, archive):
    db = open_database(archive)
    cli_feed = feed_json(feeds.feeds_with_health(db, datetime.now(UTC))[0])
    cli_alert = alert_json(deliveries.list_deliveries(db, limit=1)[0])
    cli_hit = hit_json(hits.list_hits(db, limit=1)[0])
    db.close()
    assert set(cli_feed) <= set(client.get("/api/feeds").json()[0])
    assert set(cli_alert) <= set(client.get("/api/deliveries?limit=1").json()[0])
    story = client.get("/api/stories?limit=1").json()["stories"][0]
    shared = {"rule", "severity", "url", "title", "feed", "published", "created_at", "article_id", "story_id", "story_size"}
    assert shared <= set(cli_hit) and shared <= set(story)
    assert set(story["rules"][0]["terms"][0]) == set(cli_hit["terms"][0])


@pytest.mark.parametrize("path", ["/feeds/stories.atom", "/feeds/rules/antimony.atom", "/feeds/severity/high.atom"])
def test_atom_feeds_are_valid_atom_with_stable_ids(client, path):
    answer = client.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/atom+xml")
    document = ET.fromstring(answer.content)
    checker = atom_schema()
    assert checker.validate(document), checker.error_log
    # RFC 4287's Schematron rules: the feed has an author; each entry an alternate link.
    assert document.find(f"{ATOM_NS}author/{ATOM_NS}name") is not None
    entries = document.findall(f"{ATOM_NS}entry")
    assert entries
    for entry in entries:
        assert entry.find(f"{ATOM_NS}link[@rel='alternate']") is not None
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo and parsed.version == "atom10"
    stories = client.get("/api/stories?limit=200" + {"/feeds/stories.atom": "", "/feeds/rules/antimony.atom": "&rule=antimony",
                                                       "/feeds/severity/high.atom": "&severity=high"}[path]).json()["stories"]
    assert [e.id for e in parsed.entries] == [entry_id(s["story_id"]) for s in stories]
    first = parsed.entries[0]
    assert first.updated_parsed and first.published_parsed and first.title.startswith("[")
    assert {t.term for t in first.tags} == {r["rule"] for r in stories[0]["rules"]}
    assert "<strong>" in first.content[0].value  # the terms, highlighted in context (survives the sanitiser)
    again = feedparser.parse(client.get(path).content)
    assert [e.id for e in again.entries] == [e.id for e in parsed.entries]


def test_atom_feed_answers_304_to_its_etag(client):
    first = client.get("/feeds/stories.atom")
    second = client.get("/feeds/stories.atom", headers={"if-none-match": first.headers["etag"]})
    assert second.status_code == 304 and second.content == b""
    assert client.get("/feeds/severity/urgent.atom").status_code == 404


def test_metrics_in_prometheus_format_with_bounded_labels(client):
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    for name in ("minerals_monitor_articles_stored", "minerals_monitor_hits", "minerals_monitor_notifications",
                 "minerals_monitor_outbox_pending", "minerals_monitor_outbox_dead", "minerals_monitor_feeds_failing",
                 "minerals_monitor_last_successful_poll_age_seconds"):
        assert name in families, name
    assert families["minerals_monitor_outbox_dead"].samples[0].value == 1
    assert families["minerals_monitor_feeds_failing"].samples[0].value == 1
    assert families["minerals_monitor_articles_stored"].samples[0].value >= 28
    labels = {key for family in families.values() for sample in family.samples for key in sample.labels}
    assert labels <= {"rule", "channel", "status", "outcome", "kind", "le"}
    assert not any("http" in value for f in families.values() for s in f.samples for value in s.labels.values())


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503  # no `run` holds this database
    checks = ready.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["scheduler"]["ok"] is False and "no minerals-monitor run" in checks["scheduler"]["reason"]
    assert checks["polling"]["ok"] is True


def test_with_a_password_everything_but_health_needs_it(make_client):
    client = make_client(password="s3cret-pass")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    login = client.get("/", headers={"accept": "text/html"})
    assert login.status_code == 303 and login.headers["location"] == "/login?next=%2F"
    for url in ("/api/stories", "/feeds/stories.atom", "/metrics", "/api/feeds"):
        refused = client.get(url)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert client.get(url, auth=("anyone", "s3cret-pass")).status_code == 200
        assert client.get(url, auth=("anyone", "wrong")).status_code == 401
    header = {"authorization": "Basic " + base64.b64encode(b"x:s3cret-pass").decode()}
    assert client.get("/api/deliveries", headers=header).status_code == 200


def test_login_form_sets_a_session_and_feed_tokens_work(make_client):
    client = make_client(password="s3cret-pass")
    form = client.get("/login", headers={"accept": "text/html"}).text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    wrong = client.post("/login", data={"csrf_token": token, "password": "nope", "next": "/feeds"})
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    assert client.post("/login", data={"password": "s3cret-pass"}).status_code == 403  # no CSRF token
    ok = client.post("/login", data={"csrf_token": token, "password": "s3cret-pass", "next": "/feeds"})
    assert ok.status_code == 303 and ok.headers["location"] == "/feeds"
    assert client.get("/feeds", headers={"accept": "text/html"}).status_code == 200
    assert client.get("/api/stories").status_code == 200  # the session cookie serves the API too
    access = client.console.access
    anonymous = make_client(password="s3cret-pass")
    feed = "/feeds/rules/antimony.atom"
    assert anonymous.get(f"{feed}?token={access.feed_token(feed)}").status_code == 200
    assert anonymous.get(f"/feeds/stories.atom?token={access.feed_token(feed)}").status_code == 401  # per feed
    assert anonymous.get(f"/api/stories?token={access.feed_token('/api/stories')}").status_code == 401  # feeds only
    redirect = client.post("/login", data={"csrf_token": token, "password": "s3cret-pass", "next": "//evil.example/"})
    assert redirect.headers["location"] == "/"  # no open redirect


@pytest.mark.parametrize(
    ("web", "problem"),
    [
        ({"listen": "0.0.0.0:8765"}, "web.listen: listening on 0.0.0.0:8765 would open the console to the network"),
        ({"listen": "127.0.0.1"}, 'web.listen: expected "HOST:PORT"'),
        ({"listen": "127.0.0.1:99999"}, "web.listen: expected a port number from 0 to 65535"),
        ({"password": ""}, "web.password: expected a non-empty text"),
        ({"listne": "127.0.0.1:1"}, "web.listne: unknown key"),
    ],
)
def test_web_config_problems(tmp_path, web, problem):
    with pytest.raises(ConfigError) as raised:
        parse_config({"web": web}, tmp_path / "mm.toml", {})
    assert any(problem in line for line in raised.value.problems), raised.value.problems


def test_open_listen_with_a_password_from_the_environment(tmp_path):
    config = parse_config({"web": {"listen": "0.0.0.0:8765", "password": "${MM_WEB_PASSWORD}"}}, tmp_path / "mm.toml",
                          {"MM_WEB_PASSWORD": "from-env"})
    assert config.web.password == "from-env" and not config.web.listen.loopback
    assert "from-env" not in repr(config.web)


def test_embedded_defaults_serve_on_loopback_8765():
    from monitor.config import default_config

    assert str(default_config(Path("x.db")).web.listen) == "127.0.0.1:8765"
