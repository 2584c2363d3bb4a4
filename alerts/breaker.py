"""Pure circuit breaker for one channel: pause a channel whose endpoint is down as a whole.

Each notification is retried on its own schedule (alerts/retry.py), so one a receiver keeps
refusing never holds up the others. But when the endpoint itself is unreachable (connection
refused, DNS, TLS, connect timeouts), or answers 429, or fails several notifications in a row
(timeouts, 5xx), trying every notification would only hammer it: the channel pauses and
probes with one notification (the one that tripped it) when that one is due again; the
probe's success closes the breaker and the waiting notifications leave in creation order.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE_FIRST_SECONDS = 5.0
PROBE_MAX_SECONDS = 300.0
TRIP_AFTER = 3  # consecutive failures of different notifications that may mean "the endpoint is down"


@dataclass(frozen=True)
class Failure:
    """What one failed attempt says about the endpoint (from `DeliveryError`)."""

    endpoint_down: bool = False  # unreachable: refused, DNS, TLS, connect timeout
    slow_down: bool = False  # 429: the service asks the whole channel to wait
    permanent: bool = False  # this payload is refused (4xx): the endpoint works


@dataclass(frozen=True)
class Breaker:
    failures: int = 0  # consecutive failures that may mean the endpoint is down
    probe_id: int | None = None  # set: open, waiting for this notification's next attempt
    pause: float = 0.0  # the last unreachable pause; doubles while the endpoint stays down

    @property
    def is_open(self) -> bool:
        return self.probe_id is not None


def after_success() -> Breaker:
    return Breaker()


def after_failure(breaker: Breaker, delivery_id: int, failure: Failure) -> tuple[Breaker, float | None]:
    """The breaker after a failed attempt, and the delay before that notification's next attempt
    when the breaker sets it (None: the notification's own retry schedule decides)."""
    if failure.permanent:
        return Breaker(), None  # the endpoint answered: it is up
    if failure.endpoint_down:
        pause = min(PROBE_MAX_SECONDS, breaker.pause * 2 if breaker.pause else PROBE_FIRST_SECONDS)
        return Breaker(failures=breaker.failures + 1, probe_id=delivery_id, pause=pause), pause
    if failure.slow_down:
        return Breaker(failures=breaker.failures, probe_id=delivery_id, pause=breaker.pause), None
    failures = breaker.failures + 1
    return Breaker(failures=failures, probe_id=delivery_id if failures >= TRIP_AFTER else None, pause=breaker.pause), None
