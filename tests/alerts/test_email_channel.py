"""EmailChannel against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import traceback
from datetime import UTC, datetime

import pytest

from alerts.email import EmailChannel
from alerts.exceptions import ChannelConfigError, DeliveryError

SENDER = "Minerals Monitor <alerts@monitor.example.com>"
RECIPIENTS = ["watcher@example.com", "desk@example.org"]
CLOCK = lambda: datetime(2025, 9, 8, 10, 21, tzinfo=UTC)  # noqa: E731


def channel_for(server, **options) -> EmailChannel:
    settings = {"host": server.host, "port": server.port, "sender": SENDER, "recipients": RECIPIENTS, "clock": CLOCK}
    settings.update(options)
    return EmailChannel("ops-mail", timeout=5.0, **settings)


def send(channel: EmailChannel, alert) -> None:
    async def run() -> None:
        try:
            await channel.send(alert)
        finally:
            await channel.aclose()

    asyncio.run(run())


def send_error(channel: EmailChannel, alert) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(channel, alert)
    return caught.value


def parts(message):
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_plain_smtp_message_reads_back(smtp_server, make_alert):
    server = smtp_server()
    alert = make_alert(key="dlv-1042-ops")
    send(channel_for(server), alert)

    [envelope] = server.mailbox.envelopes
    assert envelope["mail_from"] == "alerts@monitor.example.com"
    assert envelope["rcpt_tos"] == RECIPIENTS
    [message] = server.mailbox.messages
    assert message["Subject"] == "[HIGH] USSM: Pakistan and US sign $500m critical minerals MoU"
    assert message["From"] == SENDER
    assert message["To"] == ", ".join(RECIPIENTS)
    assert message["X-Minerals-Monitor-Delivery"] == "dlv-1042-ops"
    assert message["Message-ID"] == "<dlv-1042-ops@monitor.example.com>"
    assert message["Date"] == "Mon, 08 Sep 2025 10:21:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]

    text, html = parts(message)
    # Terms highlighted in context, in both parts.
    assert "«critical minerals»" in text
    assert "(«USSM»)" in text
    assert "«antimony»" in text
    assert "<mark" in html and ">USSM</mark>" in html and ">antimony</mark>" in html
    # Why it matched: each term with its fields and a snippet.
    assert "- USSM (summary, 2x):" in text
    # Source, time (UTC, readable) and link.
    assert "Source: Example News" in text
    assert "Published: Mon 8 Sep 2025, 09:45 UTC" in text
    assert "https://news.example.com/2025/09/pakistan-us-critical-minerals-mou" in text
    assert 'href="https://news.example.com/2025/09/pakistan-us-critical-minerals-mou"' in html
    assert "Also reported by" not in text


def test_also_reported_by_is_listed(smtp_server, make_alert, story_member):
    server = smtp_server()
    alert = make_alert(also_reported_by=[story_member(1), story_member(2)], story_id=77)
    send(channel_for(server), alert)

    text, html = parts(server.mailbox.messages[0])
    assert "Also reported by" in text
    assert "Outlet 1: Pakistan, US firm sign minerals deal (Outlet 1, Mon 8 Sep 2025, 09:56 UTC)" in text
    assert "https://outlet2.example.org/minerals-mou" in text
    assert 'href="https://outlet1.example.org/minerals-mou"' in html


def test_starttls_with_authentication(smtp_server, certificate, make_alert):
    server = smtp_server("starttls", users={"monitor": "correct horse"})
    channel = channel_for(
        server, security="starttls", username="monitor", password="correct horse", tls_context=certificate.client_context()
    )
    send(channel, make_alert())

    [envelope] = server.mailbox.envelopes
    assert envelope["tls"] is True
    assert envelope["authenticated"] is True
    [message] = server.mailbox.messages
    assert message["Subject"].startswith("[HIGH] USSM: ")
    assert ">USSM</mark>" in parts(message)[1]


def test_implicit_tls(smtp_server, certificate, make_alert):
    server = smtp_server("tls")
    send(channel_for(server, security="tls", tls_context=certificate.client_context()), make_alert())
    assert server.mailbox.envelopes[0]["tls"] is True


def test_untrusted_certificate_is_a_retryable_tls_error(smtp_server, make_alert):
    server = smtp_server("starttls")
    error = send_error(channel_for(server, security="starttls"), make_alert())  # system CAs: self-signed is untrusted
    assert not error.permanent
    assert "TLS handshake" in str(error) and "not trusted" in str(error)
    assert server.mailbox.envelopes == []


def test_server_without_starttls_is_a_permanent_error(smtp_server, make_alert):
    server = smtp_server("none")
    error = send_error(channel_for(server, security="starttls"), make_alert())
    assert error.permanent
    assert "does not offer STARTTLS" in str(error)


def test_title_with_crlf_cannot_inject_headers(smtp_server, make_alert):
    server = smtp_server()
    title = "Antimony deal\r\nBcc: victim@example.net\r\nX-Injected: yes\nSubject: fake"
    send(channel_for(server), make_alert(title=title, words=("Antimony",)))

    [envelope] = server.mailbox.envelopes
    assert envelope["rcpt_tos"] == RECIPIENTS
    [message] = server.mailbox.messages
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert message.get_all("Subject") == ["[HIGH] USSM: Antimony deal Bcc: victim@example.net X-Injected: yes Subject: fake"]


def test_script_in_title_and_summary_is_escaped_in_html(smtp_server, make_alert):
    server = smtp_server()
    alert = make_alert(
        title="<script>alert('t')</script> USSM",
        summary='USSM <img src=x onerror="alert(1)"> & <b>antimony</b>',
        url="https://news.example.com/a?x=1&y=\"2\"",
    )
    send(channel_for(server), alert)

    text, html = parts(server.mailbox.messages[0])
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;b&gt;<mark" in html
    assert 'href="https://news.example.com/a?x=1&amp;y=&#34;2&#34;"' in html
    # The text part is plain text: shown as written, nothing to escape.
    assert "<script>alert('t')</script> «USSM»" in text


def test_javascript_link_is_not_made_clickable(smtp_server, make_alert):
    server = smtp_server()
    send(channel_for(server), make_alert(url="javascript:alert(document.cookie)"))
    text, html = parts(server.mailbox.messages[0])
    assert "javascript:" not in html
    assert "javascript:" not in text


def test_authentication_failure_is_permanent_and_never_shows_the_password(smtp_server, certificate, make_alert):
    password = "Hunter2-very-secret"
    server = smtp_server("starttls", users={"monitor": "the right one"})
    channel = channel_for(
        server, security="starttls", username="monitor", password=password, tls_context=certificate.client_context()
    )
    error = send_error(channel, make_alert())

    assert error.permanent
    assert "authentication as 'monitor'" in str(error)
    assert "535" in str(error)
    rendered = "".join(traceback.format_exception(error))
    assert password not in rendered
    assert password not in repr(channel)
    assert server.mailbox.envelopes == []


def test_connection_refused_is_retryable(free_port, make_alert):
    channel = EmailChannel("ops-mail", host="127.0.0.1", port=free_port, sender=SENDER, recipients=RECIPIENTS)
    error = send_error(channel, make_alert())
    assert not error.permanent
    assert str(error) == f"connection refused by SMTP server 127.0.0.1:{free_port}"


def test_unknown_host_is_a_retryable_dns_error(make_alert):
    channel = EmailChannel("ops-mail", host="smtp.nonexistent.invalid", port=25, sender=SENDER, recipients=RECIPIENTS)
    error = send_error(channel, make_alert())
    assert not error.permanent
    assert str(error).startswith("DNS lookup of SMTP host 'smtp.nonexistent.invalid' failed")


@pytest.mark.parametrize(
    ("replies", "permanent", "expected"),
    [
        ({"rcpt_reply": "550 5.1.1 No such user here"}, True, "550 5.1.1 No such user here"),
        ({"rcpt_reply": "452 4.2.2 Mailbox full"}, False, "452 4.2.2 Mailbox full"),
        ({"data_reply": "554 5.7.1 Message rejected as spam"}, True, "answered 554 5.7.1 Message rejected as spam during sending"),
        ({"data_reply": "451 4.3.0 Try again later"}, False, "answered 451 4.3.0 Try again later during sending"),
    ],
)
def test_smtp_replies_decide_permanence(smtp_server, make_alert, replies, permanent, expected):
    server = smtp_server(**replies)
    error = send_error(channel_for(server), make_alert())
    assert error.permanent is permanent
    assert expected in str(error)
    assert f"127.0.0.1:{server.port}" in str(error)


def test_message_id_is_stable_across_retries(make_alert):
    channel = EmailChannel("ops-mail", host="127.0.0.1", port=25, sender=SENDER, recipients=RECIPIENTS)
    first = channel.build_message(make_alert(key="k/with spaces?"))
    second = channel.build_message(make_alert(key="k/with spaces?"))
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].endswith("@monitor.example.com>") and " " not in first["Message-ID"]
    assert first["X-Minerals-Monitor-Delivery"] == "k/with spaces?"


def test_digest_groups_hits_by_story_with_every_rule(smtp_server, make_alert):
    server = smtp_server()
    alerts = [
        make_alert(key="d1", rule_id="antimony", rule_name="Antimony supply", severity="medium", words=("antimony",)),
        make_alert(key="d2", rule_id="ussm", words=("USSM",)),  # the same article: the same story
        make_alert(key="d3", rule_id="antimony", rule_name="Antimony supply", severity="medium",
                   title="Antimony prices soar", words=("antimony", "Antimony"), url="https://news.example.com/prices",
                   article_id=2077),
    ]
    channel = channel_for(server)

    async def run() -> None:
        await channel.send_digest("Daily digest", alerts)
        await channel.send_digest("Empty digest", [])  # nothing to say: nothing sent
        await channel.aclose()

    asyncio.run(run())

    [message] = server.mailbox.messages
    assert message["Subject"] == "Daily digest (3 hits, 2 stories)"
    text, html = parts(message)
    # Most severe story first, each listing every rule that fired on it.
    assert text.index("* [HIGH] Pakistan and US sign") < text.index("* [MEDIUM] «Antimony» prices soar")
    story = text[text.index("* [HIGH]"):text.index("* [MEDIUM]")]
    assert "- [HIGH] USSM: USSM" in story and "- [MEDIUM] Antimony supply: antimony" in story
    assert "«Antimony» prices soar" in html.replace('<mark style="background:#ffe08a;color:#000;padding:0 1px;">', "«").replace("</mark>", "»")
    assert "https://news.example.com/prices" in text
    assert "3 hits on 2 stories" in text


def test_digest_message_id_depends_on_its_deliveries(make_alert):
    channel = EmailChannel("ops-mail", host="127.0.0.1", port=25, sender=SENDER, recipients=RECIPIENTS)
    one = channel.build_digest("Daily", [make_alert(key="a"), make_alert(key="b")])
    same = channel.build_digest("Daily", [make_alert(key="b"), make_alert(key="a")])
    other = channel.build_digest("Daily", [make_alert(key="a")])
    assert one["Message-ID"] == same["Message-ID"] != other["Message-ID"]


@pytest.mark.parametrize(
    "options",
    [
        {"security": "ssl"},
        {"recipients": []},
        {"recipients": "watcher@example.com"},
        {"sender": "not an address"},
        {"sender": "a@example.com\r\nBcc: x@example.com"},
        {"password": "secret-without-user"},
        {"port": 0},
        {"host": "smtp.example.com", "username": "monitor", "password": "pw"},  # clear-text login
    ],
)
def test_bad_configuration_is_refused(options):
    settings = {"host": "127.0.0.1", "port": 25, "sender": SENDER, "recipients": RECIPIENTS}
    settings.update(options)
    with pytest.raises(ChannelConfigError) as caught:
        EmailChannel("ops-mail", **settings)
    assert "secret-without-user" not in str(caught.value)


def test_silent_server_times_out_retryably(make_alert):
    with socket.socket() as listener:  # accepts connections (backlog) but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        channel = EmailChannel("ops-mail", host="127.0.0.1", port=port, sender=SENDER, recipients=RECIPIENTS, timeout=0.3)
        error = send_error(channel, make_alert())
    assert not error.permanent
    assert str(error) == f"SMTP connect with 127.0.0.1:{port} timed out after 0.3s"
