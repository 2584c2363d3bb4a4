"""Telling "the feed is down" from "our network is down". Pure, clock passed in.

When most recent fetches, across several hosts, failed without any HTTP
answer, the problem is ours: report one incident and do not count the
failures against each feed (miniflux #2150: an outage counted against every feed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class FetchOutcome:
    at: float  # monotonic seconds
    host: str
    network_error: bool


class OutageDetector:
    def __init__(self, window_seconds: float = 120.0, min_hosts: int = 3, min_fetches: int = 5, threshold: float = 0.8):
        self.window_seconds = window_seconds
        self.min_hosts = min_hosts
        self.min_fetches = min_fetches
        self.threshold = threshold
        self._recent: deque[FetchOutcome] = deque()
        self._failures = 0  # network failures in the window
        self._failed_hosts: dict[str, int] = {}  # host -> network failures in the window
        self.in_outage = False
        self.incidents = 0

    def record(self, outcome: FetchOutcome) -> bool:
        """Add one fetch outcome; returns True when this call starts a new incident."""
        self._recent.append(outcome)
        self._count(outcome, +1)
        while self._recent and self._recent[0].at < outcome.at - self.window_seconds:
            self._count(self._recent.popleft(), -1)
        now_out = self._looks_like_outage()
        started = now_out and not self.in_outage
        if started:
            self.incidents += 1
        self.in_outage = now_out
        return started

    def _count(self, outcome: FetchOutcome, step: int) -> None:
        """Running counts, so each fetch costs O(1) however many fetches the window holds."""
        if not outcome.network_error:
            return
        self._failures += step
        left = self._failed_hosts.get(outcome.host, 0) + step
        if left:
            self._failed_hosts[outcome.host] = left
        else:
            self._failed_hosts.pop(outcome.host, None)

    def _looks_like_outage(self) -> bool:
        if len(self._recent) < self.min_fetches or len(self._failed_hosts) < self.min_hosts:
            return False
        return self._failures / len(self._recent) >= self.threshold

    def counts_against_feed(self, outcome: FetchOutcome) -> bool:
        """A network failure during an outage is ours, not the feed's."""
        return not (outcome.network_error and self.in_outage)
