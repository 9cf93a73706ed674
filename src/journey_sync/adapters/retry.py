"""The one retry policy both services share.

Why our own: gspread's ``BackOffHTTPClient`` retries forever and ignores ``Retry-After``;
the Todoist SDK does not retry at all. A background service must do neither: it backs off
exponentially with jitter, honours ``Retry-After`` (capped, so a hostile header cannot park
the daemon for hours), gives up after a bounded number of attempts, and lets the cycle end
cleanly so the next one starts over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

# 429 is the quota; the 5xx are Google's and Todoist's documented transient failures.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
QUOTA_STATUS = 429

T = TypeVar("T")


class TransientFailure(Exception):
    """Raised by a ``send`` callable for a connection error or timeout worth retrying."""


@dataclass
class RetryStats:
    """Counts kept per service, for logs and /metrics."""

    requests: int = 0
    retries: int = 0
    quota_waits: int = 0  # waits after a 429 (the service's quota), before a retry
    quota_wait_seconds: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0  # seconds before the first retry, doubled each time
    max_delay: float = 60.0  # cap on any one wait, Retry-After included
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            # The server said when; a little jitter keeps several workflows from
            # returning in the same instant.
            return min(self.max_delay, retry_after + self.rng.uniform(0, 0.5))
        backoff = self.base_delay * (2 ** (attempt - 1))
        # "Full jitter": spread retries evenly over [0, backoff].
        return min(self.max_delay, self.rng.uniform(0, backoff) + 0.05)

    def run(
        self,
        send: Callable[[], T],
        *,
        status_of: Callable[[T], int],
        retry_after_of: Callable[[T], str | None],
        stats: RetryStats | None = None,
    ) -> T:
        """Call ``send`` until it answers with a status not worth retrying, or give up.

        Returns the last answer (which may still be a 429/5xx after the last attempt: the
        caller turns it into an error). Re-raises ``TransientFailure`` after the last
        attempt.
        """
        attempt = 0
        while True:
            attempt += 1
            if stats is not None:
                stats.requests += 1
                if attempt > 1:
                    stats.retries += 1
            try:
                answer = send()
            except TransientFailure:
                if attempt >= self.max_attempts:
                    raise
                self.sleep(self.delay(attempt, None))
                continue
            status = status_of(answer)
            if status not in RETRY_STATUSES or attempt >= self.max_attempts:
                return answer
            wait = self.delay(attempt, parse_retry_after(retry_after_of(answer)))
            if stats is not None and status == QUOTA_STATUS:
                stats.quota_waits += 1
                stats.quota_wait_seconds += wait
            self.sleep(wait)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
