"""Build channel objects from the config (the only place that knows every channel type)."""

from __future__ import annotations

from typing import TextIO

from alerts.channel import Channel
from alerts.console import ConsoleChannel
from monitor.config import ChannelConfig


def build_channel(config: ChannelConfig, console_stream: TextIO | None = None) -> Channel:
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
        )
    raise ValueError(f"unknown channel type {config.type!r}")


def build_channels(configs: dict[str, ChannelConfig], console_stream: TextIO | None = None) -> dict[str, Channel]:
    return {name: build_channel(cfg, console_stream) for name, cfg in configs.items()}
