"""The replaceable part of alerting: a channel sends one alert somewhere."""

from __future__ import annotations

from typing import Protocol

from storage.types import Alert


class Channel(Protocol):
    """A place alerts go (console, email, webhook).

    `send` raises `alerts.exceptions.DeliveryError` on failure; its
    `permanent` flag says whether retrying can help and `retry_after` carries a
    server's Retry-After in seconds. Returning normally means delivered.
    """

    name: str

    async def send(self, alert: Alert) -> None: ...

    async def aclose(self) -> None: ...
