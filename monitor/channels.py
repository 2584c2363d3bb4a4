"""Build channel objects from the config (the only place that knows every channel type)."""

from __future__ import annotations

from typing import TextIO

from alerts.channel import Channel
from alerts.console import ConsoleChannel
from monitor.config import ChannelConfig


def build_channel(config: ChannelConfig, console_stream: TextIO | None = None, console_url: str | None = None) -> Channel:
    options = config.options
    if config.type == "console":
        return ConsoleChannel(config.name, stream=console_stream)
    if config.type == "email":
        from alerts.email import EmailChannel

        return EmailChannel(
            config.name,
            host=options["host"],
            port=options.get("port", 25),
            security=options.get("security", "none"),
            username=options.get("username"),
            password=options.get("password"),
            sender=options["sender"],
            recipients=list(options["recipients"]),
            timeout=float(options.get("timeout", 30.0)),
            console_url=console_url,
        )
    if config.type == "webhook":
        from alerts.webhook import WebhookChannel

        return WebhookChannel(
            config.name,
            url=options["url"],
            secret=options.get("secret"),
            format=options.get("format", "json"),
            headers=dict(options.get("headers", {})),
            timeout=float(options.get("timeout", 15.0)),
            transport=_webhook_transport(),
        )
    raise ValueError(f"unknown channel type {config.type!r}")


def build_channels(configs: dict[str, ChannelConfig], console_stream: TextIO | None = None,
                   console_url: str | None = None) -> dict[str, Channel]:
    return {name: build_channel(cfg, console_stream, console_url) for name, cfg in configs.items()}


def _webhook_transport():
    """Webhooks go on the wire through aiohttp, as feed polls do (monitor/fetch/aiotransport.py):
    under a backlog httpx's own pool cost ~2.3 ms of CPU per POST (bench/bench_delivery.py,
    cProfile: most of it in httpcore's connection assignment), the loop's largest cost."""
    import ssl

    import certifi

    from monitor.fetch.aiotransport import AiohttpTransport

    return AiohttpTransport(ssl.create_default_context(cafile=certifi.where()))
