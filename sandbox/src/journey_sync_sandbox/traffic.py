"""What reached the sandbox: request counters per service and kind, and a request log.

The counters are the product's cost figures (DESIGN.md: a quiet cycle costs one
Sheets read and one Todoist request), so tests assert on them; every request is
counted, including ones refused by a quota or an injected fault, since those reached
the service too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

SHEETS_READS = "sheets_reads"
SHEETS_WRITES = "sheets_writes"
TODOIST_REQUESTS = "todoist_requests"
OAUTH_TOKEN_REQUESTS = "oauth_token_requests"
COUNTERS = (SHEETS_READS, SHEETS_WRITES, TODOIST_REQUESTS, OAUTH_TOKEN_REQUESTS)


@dataclass(frozen=True)
class LoggedRequest:
    service: str  # "sheets", "todoist", "oauth" or "other"
    method: str
    path: str  # without the query string
    status: int


class Traffic:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._log: list[LoggedRequest] = []

    def count(self, counter: str) -> None:
        with self._lock:
            self._counts[counter] = self._counts.get(counter, 0) + 1

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def counts(self) -> dict[str, int]:
        """A copy of the counters: ``sheets_reads``, ``sheets_writes``,
        ``todoist_requests``, ``oauth_token_requests``."""
        with self._lock:
            return dict(self._counts)

    def log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(COUNTERS, 0)
            self._log.clear()

    @property
    def sheets_reads(self) -> int:
        return self.counts()[SHEETS_READS]

    @property
    def sheets_writes(self) -> int:
        return self.counts()[SHEETS_WRITES]

    @property
    def todoist_requests(self) -> int:
        return self.counts()[TODOIST_REQUESTS]

    @property
    def oauth_token_requests(self) -> int:
        return self.counts()[OAUTH_TOKEN_REQUESTS]
