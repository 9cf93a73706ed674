"""Per-user request quotas, enforced the way the real services do when asked to.

Google Sheets: 60 read and 60 write requests per minute per user; Todoist: 1000
requests per 15 minutes per user (DESIGN.md, "Cost per cycle"). Windows are fixed
(they refill at the start of each period, as Google's per-minute quotas do) and a
refusal carries ``Retry-After``: the whole seconds until the window refills.

The clock is injectable so tests can move time instead of sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SHEETS_READ = "sheets_read"
SHEETS_WRITE = "sheets_write"
TODOIST = "todoist"


@dataclass
class Quota:
    sheets_reads_per_minute: int = 60
    sheets_writes_per_minute: int = 60
    todoist_requests: int = 1000
    todoist_window_seconds: float = 15 * 60
    sheets_window_seconds: float = 60
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def limit(self, bucket: str) -> tuple[int, float]:
        """(requests allowed, window length in seconds) for a bucket."""
        if bucket == SHEETS_READ:
            return self.sheets_reads_per_minute, self.sheets_window_seconds
        if bucket == SHEETS_WRITE:
            return self.sheets_writes_per_minute, self.sheets_window_seconds
        return self.todoist_requests, self.todoist_window_seconds


class QuotaMeter:
    """Thread-safe counters, one per (bucket, user) and window."""

    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self._lock = threading.Lock()
        self._used: dict[tuple[str, str], tuple[int, int]] = {}  # -> (window index, count)

    def admit(self, bucket: str, user: str) -> int | None:
        """Count one request; ``None`` if allowed, else the seconds to wait."""
        limit, window = self.quota.limit(bucket)
        now = self.quota.clock()
        index = math.floor(now / window)
        with self._lock:
            seen_index, count = self._used.get((bucket, user), (index, 0))
            if seen_index != index:
                count = 0
            if count >= limit:
                return max(1, math.ceil((index + 1) * window - now))
            self._used[(bucket, user)] = (index, count + 1)
        return None
