"""Pure retry policy for deliveries: when to try again, or give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

# The Standard Webhooks schedule after the first immediate attempt.
STANDARD_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    give_up_after: float = 3 * 86400
    schedule: tuple[float, ...] = STANDARD_SCHEDULE
    jitter: float = 0.1


@dataclass(frozen=True)
class RetryDecision:
    dead: bool
    next_attempt_at: datetime | None = None
    reason: str = ""


def decide_retry(
    policy: RetryPolicy,
    *,
    attempts_before: int,
    created_at: datetime,
    now: datetime,
    permanent: bool,
    retry_after: float | None,
    rng: random.Random,
    channel_pause: float | None = None,
) -> RetryDecision:
    """After a failed attempt (the `attempts_before + 1`-th), retry or give up.

    `channel_pause`: the endpoint was unreachable and the channel's breaker probes again after
    this many seconds. Such an attempt says nothing about the notification, so it does not count
    towards max_attempts (an outage of hours must not kill what waits behind it); give_up_after
    still applies.
    """
    attempts = attempts_before + 1
    if permanent:
        return RetryDecision(dead=True, reason="permanent failure, not retried")
    if channel_pause is None and attempts >= policy.max_attempts:
        return RetryDecision(dead=True, reason=f"gave up after {attempts} attempts (max_attempts)")
    if channel_pause is not None:
        delay = channel_pause
    else:
        step = policy.schedule[min(attempts - 1, len(policy.schedule) - 1)]
        delay = step * (1 + rng.uniform(-policy.jitter, policy.jitter))
    if retry_after is not None:
        delay = max(delay, retry_after)
    next_at = now + timedelta(seconds=delay)
    if (next_at - created_at).total_seconds() > policy.give_up_after:
        return RetryDecision(dead=True, reason="gave up: the next attempt would pass give_up_after")
    return RetryDecision(dead=False, next_attempt_at=next_at)
