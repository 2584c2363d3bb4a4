"""Errors of the alerts package."""

from __future__ import annotations


class AlertsError(Exception):
    """Root of alerting errors (monitor/exceptions.py lists every package's root)."""


class ChannelConfigError(AlertsError):
    """A channel's configuration is unusable (missing key, bad value)."""


class DeliveryError(AlertsError):
    """Sending one alert failed.

    permanent: retrying will not help (4xx other than 408/429, SMTP 5xx, auth).
    retry_after: seconds the server asked us to wait, if it said so.
    endpoint_down: the endpoint could not be reached at all (refused, DNS, TLS, connect
        timeout): the channel pauses and probes (alerts/breaker.py).
    slow_down: the service asked the whole channel to wait (HTTP 429).
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 endpoint_down: bool = False, slow_down: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.endpoint_down = endpoint_down
        self.slow_down = slow_down
