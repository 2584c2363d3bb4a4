"""WebhookChannel against a real HTTP receiver on 127.0.0.1 that verifies with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import json
import re
import traceback
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from alerts.exceptions import ChannelConfigError, DeliveryError
from alerts.payload import hit_created
from alerts.webhook import WebhookChannel, parse_retry_after


def deliver(channel: WebhookChannel, alert, attempts: int = 1) -> list[DeliveryError | None]:
    """Send `alert` `attempts` times (as the dispatcher would retry); the outcome of each."""

    async def run() -> list[DeliveryError | None]:
        outcomes: list[DeliveryError | None] = []
        try:
            for _ in range(attempts):
                try:
                    await channel.send(alert)
                    outcomes.append(None)
                except DeliveryError as error:
                    outcomes.append(error)
        finally:
            await channel.aclose()
        return outcomes

    return asyncio.run(run())


def failure(channel: WebhookChannel, alert) -> DeliveryError:
    [outcome] = deliver(channel, alert)
    assert outcome is not None, "expected the delivery to fail"
    return outcome


def test_signed_json_event_verifies_with_standardwebhooks(webhook_receiver, webhook_secret, make_alert):
    receiver = webhook_receiver(secret=webhook_secret)
    alert = make_alert(key="dlv-1042-ops")
    channel = WebhookChannel("ops", url=receiver.url, secret=webhook_secret, headers={"X-Team": "minerals"})
    assert deliver(channel, alert) == [None]

    [request] = receiver.requests
    assert request.verified is True, request.error
    assert request.headers["webhook-id"] == "dlv-1042-ops"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert abs(int(request.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-team"] == "minerals"
    event = Webhook(webhook_secret).verify(request.body, request.headers)
    assert event == hit_created(alert)
    assert event["type"] == "hit.created"
    assert event["data"]["id"] == request.headers["webhook-id"]


def test_altered_body_or_wrong_secret_is_rejected(webhook_receiver, webhook_secret, make_alert):
    receiver = webhook_receiver(secret=webhook_secret)
    assert deliver(WebhookChannel("ops", url=receiver.url, secret=webhook_secret), make_alert()) == [None]
    [request] = receiver.requests

    tampered = request.body.replace(b'"severity":"high"', b'"severity":"low"')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_secret).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)


def test_receiver_rejects_a_channel_with_another_secret(webhook_receiver, webhook_secret, make_alert):
    receiver = webhook_receiver(secret=webhook_secret)
    error = failure(WebhookChannel("ops", url=receiver.url, secret="whsec_" + "B" * 32), make_alert())
    assert receiver.requests[0].verified is False
    assert error.permanent and "HTTP 401" in str(error) and "signature rejected" in str(error)


def test_without_secret_id_and_timestamp_are_sent_unsigned(webhook_receiver, make_alert):
    receiver = webhook_receiver()
    assert deliver(WebhookChannel("ops", url=receiver.url), make_alert(key="k-7")) == [None]
    [request] = receiver.requests
    assert request.headers["webhook-id"] == "k-7"
    assert request.headers["webhook-timestamp"].isdigit()
    assert "webhook-signature" not in request.headers


def test_fail_n_times_then_succeed_keeps_the_same_webhook_id(reply, webhook_receiver, webhook_secret, make_alert):
    receiver = webhook_receiver(secret=webhook_secret, script=[reply(500, body=b"boom")] * 3, default=reply(200))
    outcomes = deliver(WebhookChannel("ops", url=receiver.url, secret=webhook_secret), make_alert(key="once"), attempts=4)

    assert [o is None for o in outcomes] == [False, False, False, True]
    assert all(not o.permanent for o in outcomes[:3])  # type: ignore[union-attr]
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["once"] * 4
    assert all(r.verified for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1  # the same body on every retry


def test_410_is_permanent(reply, webhook_receiver, make_alert):
    receiver = webhook_receiver(default=reply(410, body=b"this hook was deleted"))
    error = failure(WebhookChannel("ops", url=receiver.url), make_alert())
    assert error.permanent
    assert "endpoint gone (410)" in str(error)
    assert "this hook was deleted" in str(error)


def test_429_with_retry_after_seconds(reply, webhook_receiver, make_alert):
    receiver = webhook_receiver(default=reply(429, {"Retry-After": "7"}, b"slow down"))
    error = failure(WebhookChannel("ops", url=receiver.url), make_alert())
    assert not error.permanent
    assert error.retry_after == 7
    assert "HTTP 429" in str(error) and "slow down" in str(error)


def test_429_with_retry_after_http_date(reply, webhook_receiver, webhook_secret, make_alert):
    now = datetime.now(UTC).replace(microsecond=0)
    later = format_datetime(now + timedelta(seconds=120), usegmt=True)
    receiver = webhook_receiver(secret=webhook_secret, default=reply(429, {"Retry-After": later}))
    channel = WebhookChannel("ops", url=receiver.url, secret=webhook_secret, clock=lambda: now)
    error = failure(channel, make_alert())
    assert receiver.requests[0].verified
    assert receiver.requests[0].headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert not error.permanent
    assert error.retry_after == 120


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(408, False), (500, False), (502, False), (503, False), (504, False), (400, True), (401, True), (404, True), (413, True)],
)
def test_status_decides_permanence(reply, webhook_receiver, make_alert, status, permanent):
    receiver = webhook_receiver(default=reply(status))
    error = failure(WebhookChannel("ops", url=receiver.url), make_alert())
    assert error.permanent is permanent
    assert f"HTTP {status}" in str(error)
    assert error.retry_after is None


def test_redirect_is_not_followed(reply, webhook_receiver, make_alert):
    receiver = webhook_receiver(default=reply(301, {"Location": "https://elsewhere.example.net/hook/secret-path"}))
    error = failure(WebhookChannel("ops", url=receiver.url), make_alert())
    assert error.permanent
    assert "redirect (HTTP 301) to https://elsewhere.example.net" in str(error)
    assert "secret-path" not in str(error)
    assert len(receiver.requests) == 1


def test_error_shows_only_the_first_200_bytes_of_the_answer(reply, webhook_receiver, make_alert):
    receiver = webhook_receiver(default=reply(500, body=b"a" * 150 + b"b" * 5000))
    message = str(failure(WebhookChannel("ops", url=receiver.url), make_alert()))
    assert "a" * 150 + "b" * 50 in message
    assert "b" * 51 not in message


def test_errors_never_show_secrets_or_the_url_path(reply, webhook_receiver, webhook_secret, make_alert):
    token = "Bearer tok-0123456789"
    echo = f"bad request: authorization={token} secret={webhook_secret}".encode()
    receiver = webhook_receiver(secret=webhook_secret, default=reply(400, body=echo))
    channel = WebhookChannel("ops", url=receiver.url, secret=webhook_secret, headers={"Authorization": token})
    error = failure(channel, make_alert())

    rendered = "".join(traceback.format_exception(error))
    for secret in (token, webhook_secret, "/hooks/minerals", "token=abc"):
        assert secret not in rendered
        assert secret not in repr(channel)
    assert "HTTP 400" in str(error) and "***" in str(error)


def test_connection_refused_is_retryable(free_port, make_alert):
    error = failure(WebhookChannel("ops", url=f"http://127.0.0.1:{free_port}/hook"), make_alert())
    assert not error.permanent
    assert str(error) == f"connection refused by webhook http://127.0.0.1:{free_port}"


def test_dns_failure_is_retryable(make_alert):
    error = failure(WebhookChannel("ops", url="https://hooks.nonexistent.invalid/x"), make_alert())
    assert not error.permanent
    assert str(error).startswith("DNS lookup of webhook host 'hooks.nonexistent.invalid' failed")


def test_slow_endpoint_times_out_retryably(reply, webhook_receiver, make_alert):
    receiver = webhook_receiver(default=reply(200, delay=0.6))
    error = failure(WebhookChannel("ops", url=receiver.url, timeout=0.2), make_alert())
    assert not error.permanent
    assert "did not answer within 0.2s" in str(error)


@pytest.mark.parametrize("format", ["slack", "discord", "teams"])
def test_chat_formats_are_posted_signed(webhook_receiver, webhook_secret, make_alert, format):
    receiver = webhook_receiver(secret=webhook_secret)
    assert deliver(WebhookChannel("chat", url=receiver.url, secret=webhook_secret, format=format), make_alert()) == [None]
    [request] = receiver.requests
    assert request.verified
    body = json.loads(request.body)
    expected_key = {"slack": "blocks", "discord": "embeds", "teams": "attachments"}[format]
    assert expected_key in body


def test_a_shared_client_is_left_open(webhook_receiver, make_alert):
    receiver = webhook_receiver()

    async def run() -> bool:
        async with httpx.AsyncClient() as client:
            channel = WebhookChannel("ops", url=receiver.url, client=client)
            await channel.send(make_alert())
            await channel.aclose()
            return client.is_closed

    assert asyncio.run(run()) is False
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://example.com/hook"}, "url must be an http(s) URL"),
        ({"format": "xml"}, "format must be one of"),
        ({"secret": "whsec_not base64!!"}, "not base64"),
        ({"secret": "whsec_c2hvcnQ="}, "too short"),
        ({"headers": {"Webhook-Signature": "v1,forged"}}, "set by the channel itself"),
        ({"headers": {"X-Evil": "a\r\nInjected: 1"}}, "line break"),
    ],
)
def test_bad_configuration_is_refused(options, message):
    settings = {"url": "https://hooks.example.com/x"}
    settings.update(options)
    with pytest.raises(ChannelConfigError, match=re.escape(message)) as caught:
        WebhookChannel("ops", **settings)
    assert "not base64!!" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        ("1.5", 1.5),
        ("Mon, 08 Sep 2025 10:02:00 GMT", 120.0),
        ("Mon, 08 Sep 2025 09:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value, expected):
    now = datetime(2025, 9, 8, 10, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected
