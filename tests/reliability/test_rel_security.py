"""Security at the edges, end to end through the real CLI and pipeline.

- A feed title with CR/LF cannot add an email header or a recipient.
- Article text is escaped in HTML email: no live <script>, no on* handler, no javascript: link.
- Secrets (webhook secret, SMTP password, header values, all given as ${ENV}) never
  appear in logs, error messages, `--json` output or the database, even when the
  servers echo them back in their error answers.
- Webhooks verify with the `standardwebhooks` reference library and fail verification
  once the body, id or timestamp is altered.
- The database (and its -wal, -shm, .lock files) and the files written by `init` are
  not readable by other users, even under umask 000.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.alerts.conftest import Mailbox, _LocalController
from tests.reliability.rel_support import (
    Daemon,
    FeedHost,
    Publisher,
    RecordingReceiver,
    free_port,
    query,
    run_cli,
    wait_until,
    write_config,
)


def mail_channel(port: int, *, auth: bool = False) -> str:
    login = 'username = "alerts@example.org"\npassword = "${SMTP_PASSWORD}"\n' if auth else ""
    return (
        f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n{login}'
        'sender = "alerts@example.org"\nrecipients = ["desk@example.org"]\ntimeout = 5\n'
    )


# --- hostile article text in email and webhooks ------------------------------------------------

HOSTILE_ITEMS = [
    # (guid, title as written in the XML, description as written in the XML, link)
    ("crlf", "Antimony deal&#13;&#10;Bcc: victim@evil.example&#13;&#10;X-Injected: yes",
     "antimony text&#13;&#10;Bcc: victim2@evil.example", "https://news.example.com/crlf"),
    ("script", "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; antimony rally",
     "&amp;lt;img src=x onerror=alert(1)&amp;gt; antimony &amp;lt;a href=&amp;quot;javascript:alert(2)&amp;quot;&amp;gt;x&amp;lt;/a&amp;gt;",
     "https://news.example.com/script"),
    ("cdata", "Antimony <![CDATA[<b onmouseover=alert(3)>bold</b>]]> prices",
     "<![CDATA[<script>alert(4)</script><iframe src='javascript:alert(5)'></iframe> antimony]]>",
     "https://news.example.com/cdata"),
    ("jslink", "Antimony link test \u2028 with a line separator \u0085 and NEL",
     "antimony", "javascript:alert(6)"),
]


def hostile_feed() -> bytes:
    items = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link><description>{text}</description>"
        f"<pubDate>{_now_rfc()}</pubDate></item>"
        for guid, title, text, link in HOSTILE_ITEMS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile wire</title>'
        f"<link>https://news.example.com/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def _now_rfc() -> str:
    from datetime import UTC, datetime
    from email.utils import format_datetime

    return format_datetime(datetime.now(UTC), usegmt=True)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, attrs))


@dataclass
class Delivered:
    messages: list
    envelopes: list
    requests: list
    titles: list[str]


@pytest.fixture(scope="module")
def hostile_delivery(tmp_path_factory) -> Delivered:
    """`run --once` over the hostile feed, to a real SMTP server and a verifying webhook receiver."""
    folder = tmp_path_factory.mktemp("hostile-delivery")
    mailbox = Mailbox()
    controller = _LocalController(mailbox, hostname="127.0.0.1", port=0, ready_timeout=5.0)
    controller.start()
    receiver = RecordingReceiver().up()
    try:
        with FeedHost() as host:
            url = host.serve("/hostile.xml", hostile_feed())
            config = write_config(folder, [url], webhook_url=receiver.url, channels=mail_channel(controller.port),
                                  default_channels='["hook", "mail"]', extra="[stories]\nenabled = false\n")
            result = run_cli("--config", str(config), "run", "--once", cwd=folder)
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        controller.stop()
        receiver.down()
    titles = [row[0] for row in query(folder / "monitor.db", "SELECT title FROM articles ORDER BY id")]
    assert len(titles) == len(HOSTILE_ITEMS), titles
    return Delivered(mailbox.messages, mailbox.envelopes, receiver.requests, titles)


def test_crlf_in_a_title_adds_no_header_and_no_recipient(hostile_delivery):
    assert len(hostile_delivery.messages) == len(HOSTILE_ITEMS)
    for envelope in hostile_delivery.envelopes:
        assert envelope["rcpt_tos"] == ["desk@example.org"]
        raw = envelope["content"]
        head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
        for line in head.splitlines():
            assert not line.lower().startswith((b"bcc:", b"x-injected:", b"cc:")), head.decode(errors="replace")
    for message in hostile_delivery.messages:
        assert message["Bcc"] is None and message["X-Injected"] is None
        subject = str(message["Subject"])
        assert "\r" not in subject and "\n" not in subject and "\u2028" not in subject and "\x85" not in subject
    # The text is kept (as text), not dropped: the watcher still sees what the article said.
    crlf = next(m for m in hostile_delivery.messages if "Antimony deal" in str(m["Subject"]))
    assert "victim@evil.example" in str(crlf["Subject"])


def test_article_html_is_escaped_in_html_email(hostile_delivery):
    for message in hostile_delivery.messages:
        html = message.get_body(preferencelist=("html",)).get_content()
        parser = _Tags()
        parser.feed(html)
        for tag, attrs in parser.tags:
            assert tag not in ("script", "iframe", "img", "object", "embed"), (tag, attrs)
            for name, value in attrs:
                assert not name.lower().startswith("on"), (tag, name, value)
                if name.lower() in ("href", "src"):
                    assert (value or "").lower().startswith(("http://", "https://", "mailto:", "cid:")), value
    # What an article said with angle brackets shows as text in the HTML part.
    script = next(m for m in hostile_delivery.messages if "rally" in str(m["Subject"]))
    html = script.get_body(preferencelist=("html",)).get_content()
    assert "&lt;script&gt;" in html and "<script" not in html.lower()


def test_webhooks_verify_and_fail_once_altered(hostile_delivery):
    requests = hostile_delivery.requests
    assert len(requests) == len(HOSTILE_ITEMS)
    hook = Webhook(RecordingReceiver().secret)
    for request in requests:
        assert request.verified
        payload = hook.verify(request.body, request.headers)
        assert payload["data"]["id"] == request.webhook_id
        body = request.body
        tampered_bodies = [body.replace(b"antimony", b"antimonY", 1), body + b" ", body[:-1]]
        for altered in tampered_bodies:
            assert altered != body
            with pytest.raises(WebhookVerificationError):
                hook.verify(altered, request.headers)
        for header, value in (("webhook-id", request.webhook_id + "x"),
                              ("webhook-timestamp", str(int(request.headers["webhook-timestamp"]) + 1))):
            with pytest.raises(WebhookVerificationError):
                hook.verify(body, {**request.headers, header: value})
        other = "whsec_" + base64.b64encode(b"another secret of 24 byte").decode()
        with pytest.raises(WebhookVerificationError):
            Webhook(other).verify(body, request.headers)


# --- secrets --------------------------------------------------------------------------------


@dataclass
class SecretRun:
    secrets: dict[str, str]
    outputs: dict[str, str]  # command -> stdout + stderr
    database: bytes


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory) -> SecretRun:
    """Failing deliveries with every secret set from ${ENV}; the servers echo what they were sent."""
    folder = tmp_path_factory.mktemp("secrets")
    values = {
        "HOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        "SMTP_PASSWORD": "pw-" + secrets.token_hex(10),
        "API_TOKEN": "tok-" + secrets.token_hex(10),
        "URL_TOKEN": "ut" + secrets.token_hex(10),
    }

    def echo_password(server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 no such user {login} / {password}")

    controller = _LocalController(Mailbox(), hostname="127.0.0.1", port=0, ready_timeout=5.0,
                                  authenticator=echo_password, auth_require_tls=False)
    controller.start()
    # 401 with every request header echoed back (Authorization included): permanent, so `alerts retry --dead` resends.
    receiver = RecordingReceiver(secret=values["HOOK_SECRET"], answer=lambda index: (401, {}, 0.0),
                                 reply_body=lambda headers, body: json.dumps(headers).encode() + body[:100])
    outputs: dict[str, str] = {}
    try:
        receiver.up()
        with FeedHost() as host:
            url = host.serve("/wire.xml", Publisher("wire", 2, 0.0, seed=9, matching_ratio=1.0).body)
            config = write_config(
                folder, [url], webhook_url=f"http://127.0.0.1:{receiver.port}/hooks/${{URL_TOKEN}}",
                webhook_secret="${HOOK_SECRET}", channels=mail_channel(controller.port, auth=True),
                default_channels='["hook", "mail"]',
            )
            text = config.read_text().replace(
                "timeout = 5\n\n[channels.mail]",
                'timeout = 5\nheaders = {Authorization = "Bearer ${API_TOKEN}"}\n\n[channels.mail]')
            assert "Authorization" in text
            config.write_text(text)
            commands = [
                ("--verbose", "run", "--once"),
                ("alerts", "list", "--json"),
                ("feeds", "list", "--json"),
                ("alerts", "test", "hook"),
                ("alerts", "test", "mail"),
                ("alerts", "retry", "--dead"),
                ("--debug", "run", "--once"),
            ]
            for command in commands:
                result = run_cli("--config", str(config), *command, cwd=folder, env=values)
                outputs[" ".join(command)] = result.stdout + result.stderr
            # A secret that is not a whsec_ secret: the config error must not echo it.
            bad = folder / "bad.toml"
            bad.write_text(text.replace('secret = "${HOOK_SECRET}"', 'secret = "${API_TOKEN}"'))
            result = run_cli("--config", str(bad), "feeds", "list", cwd=folder, env=values)
            assert result.returncode == 2
            outputs["bad config"] = result.stdout + result.stderr
            # The daemon's own log lines while deliveries fail.
            daemon = Daemon(config, folder, env=values, args=("--verbose",))
            try:
                daemon.start()
                assert wait_until(lambda: "Ctrl-C to stop" in daemon.current_stderr(), timeout=20)
                run_cli("--config", str(config), "alerts", "retry", "--dead", cwd=folder, env=values)
                assert wait_until(lambda: len(receiver.snapshot()) >= 4, timeout=20)
                assert daemon.stop() == 0
            finally:
                daemon.ensure_dead()
            outputs["daemon"] = daemon.stderr_text() + daemon.stdout_text()
    finally:
        controller.stop()
        receiver.down()
    assert receiver.requests and all(r.verified for r in receiver.requests)
    database = b"".join(p.read_bytes() for p in folder.glob("monitor.db*") if p.is_file())
    return SecretRun(values, outputs, database)


def _leaks(text: str, values: dict[str, str], names: tuple[str, ...]) -> list[str]:
    found = []
    for name in names:
        value = values[name]
        for piece in {value, value.removeprefix("whsec_")}:
            if piece in text:
                at = text.index(piece)
                found.append(f"{name}: ...{text[max(0, at - 120):at]}<SECRET>...")
    return found


def test_failed_deliveries_are_recorded_with_their_errors(secret_run):
    listed = json.loads(secret_run.outputs["alerts list --json"])
    assert {a["channel"] for a in listed} == {"hook", "mail"}
    assert all(a["last_error"] for a in listed)  # the errors are there: redacted, not missing
    assert any("535" in a["last_error"] and "***" in a["last_error"] for a in listed if a["channel"] == "mail")
    assert any("401" in a["last_error"] for a in listed if a["channel"] == "hook")
    assert "FAILED" in secret_run.outputs["alerts test hook"] and "FAILED" in secret_run.outputs["alerts test mail"]


def test_secrets_never_appear_in_output_logs_or_the_database(secret_run):
    names = ("HOOK_SECRET", "SMTP_PASSWORD", "API_TOKEN")
    for command, text in secret_run.outputs.items():
        assert not _leaks(text, secret_run.secrets, names), (command, _leaks(text, secret_run.secrets, names))
    database = secret_run.database.decode("utf-8", "replace")
    assert not _leaks(database, secret_run.secrets, names + ("URL_TOKEN",))


def test_the_webhook_url_path_token_stays_out_of_normal_output(secret_run):
    for command, text in secret_run.outputs.items():
        if "--debug" in command:
            continue
        assert not _leaks(text, secret_run.secrets, ("URL_TOKEN",)), command


def test_the_webhook_url_path_token_stays_out_of_debug_output(secret_run):
    for command, text in secret_run.outputs.items():
        assert not _leaks(text, secret_run.secrets, ("URL_TOKEN",)), command


def test_a_header_token_echoed_without_its_scheme_is_redacted():
    import asyncio

    from alerts.exceptions import DeliveryError
    from alerts.webhook import WebhookChannel
    from tests.alerts.conftest import build_alert

    token = "tok-" + secrets.token_hex(10)
    receiver = RecordingReceiver(secret=None, answer=lambda index: (401, {}, 0.0),
                                 reply_body=lambda headers, body: f"invalid token {token}".encode()).up()

    async def send() -> str:
        channel = WebhookChannel("hook", url=receiver.url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        try:
            await channel.send(build_alert())
        except DeliveryError as error:
            return str(error)
        finally:
            await channel.aclose()
        return ""

    try:
        message = asyncio.run(send())
    finally:
        receiver.down()
    assert "401" in message
    assert token not in message, message


# --- file permissions ---------------------------------------------------------------------


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_files_written_by_init_are_private_even_under_umask_000(tmp_path):
    target = tmp_path / "site"
    result = run_cli("init", str(target), cwd=tmp_path, umask=0)
    assert result.returncode == 0, result.stderr
    written = [p for p in target.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"minerals-monitor.toml", "my-rules.yaml", "minerals-diplomacy.yaml"}
    for path in written:
        assert _private(path), f"{path} is mode {oct(stat.S_IMODE(path.stat().st_mode))}"


def test_database_and_its_side_files_are_private_even_under_umask_000(tmp_path):
    with FeedHost() as host:
        url = host.serve("/wire.xml", Publisher("wire", 3, 0.0, seed=4).body)
        config = write_config(tmp_path, [url], default_channels='["console"]')
        daemon = Daemon(config, tmp_path, umask=0)
        try:
            daemon.start()
            db = tmp_path / "monitor.db"
            assert wait_until(lambda: query(db, "SELECT count(*) FROM articles") == [(3,)], timeout=20)
            side = [tmp_path / f"monitor.db{suffix}" for suffix in ("", "-wal", "-shm", ".lock")]
            assert all(p.exists() for p in side), [p.name for p in side if not p.exists()]
            for path in side:
                assert _private(path), f"{path.name} is mode {oct(stat.S_IMODE(path.stat().st_mode))}"
            assert daemon.stop() == 0
        finally:
            daemon.ensure_dead()
    # A CLI command that creates the database (feeds add on a fresh path) makes it private too.
    other = tmp_path / "fresh"
    other.mkdir()
    (other / "cli.toml").write_text('[storage]\npath = "fresh.db"\n[[feeds]]\nurl = "http://127.0.0.1:9/f.xml"\n')
    result = run_cli("--config", str(other / "cli.toml"), "feeds", "add", "--no-check", "http://127.0.0.1:9/g.xml",
                     cwd=other, umask=0)
    assert result.returncode == 0, result.stderr
    assert _private(other / "fresh.db")
    assert os.stat(other / "fresh.db").st_size > 0
