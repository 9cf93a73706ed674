"""The shared retry policy: bounded, jittered, capped, honouring Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from journey_sync.adapters.retry import (
    RetryPolicy,
    RetryStats,
    TransientFailure,
    parse_retry_after,
)


def policy(sleeps: list[float], **kwargs: float) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, rng=random.Random(3), **kwargs)  # type: ignore[arg-type]


def test_retry_after_is_honoured_with_a_little_jitter_and_capped() -> None:
    p = policy([], max_delay=60.0)
    assert 7.0 <= p.delay(1, 7.0) <= 7.5
    assert p.delay(1, 3600.0) == 60.0  # a hostile header cannot park the daemon


def test_backoff_grows_exponentially_within_full_jitter_and_the_cap() -> None:
    p = policy([], base_delay=1.0, max_delay=10.0)
    for attempt in range(1, 10):
        for _ in range(50):
            wait = p.delay(attempt, None)
            assert 0.05 <= wait <= min(10.0, 2 ** (attempt - 1) + 0.05)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Tue, 01 Jul 2025 12:00:30 GMT", 30.0),
        ("Tue, 01 Jul 2025 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_run_returns_the_last_answer_after_max_attempts_and_counts_them() -> None:
    sleeps: list[float] = []
    stats = RetryStats()
    answers = iter([503, 503, 503, 200])
    result = policy(sleeps, max_attempts=3).run(
        lambda: next(answers), status_of=lambda s: s, retry_after_of=lambda s: None, stats=stats
    )
    assert result == 503
    assert len(sleeps) == 2
    assert (stats.requests, stats.retries) == (3, 2)


def test_run_stops_at_the_first_answer_not_worth_retrying() -> None:
    sleeps: list[float] = []
    answers = iter([429, 404, 200])
    result = policy(sleeps).run(
        lambda: next(answers), status_of=lambda s: s, retry_after_of=lambda s: "1"
    )
    assert result == 404
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 1.5


def test_run_reraises_a_transient_failure_after_the_last_attempt() -> None:
    sleeps: list[float] = []
    stats = RetryStats()

    def send() -> int:
        raise TransientFailure("connection refused")

    with pytest.raises(TransientFailure):
        policy(sleeps, max_attempts=4).run(
            send, status_of=lambda s: s, retry_after_of=lambda s: None, stats=stats
        )
    assert len(sleeps) == 3
    assert (stats.requests, stats.retries) == (4, 3)


def test_quota_waits_are_counted_with_the_time_waited_and_other_retries_are_not() -> None:
    answers = iter([429, 503, 429, 200])
    sleeps: list[float] = []
    stats = RetryStats()
    policy = RetryPolicy(max_attempts=5, sleep=sleeps.append, rng=random.Random(1))
    status = policy.run(
        lambda: next(answers),
        status_of=lambda s: s,
        retry_after_of=lambda s: "7" if s == 429 else None,
        stats=stats,
    )
    assert status == 200
    assert (stats.requests, stats.retries) == (4, 3)
    assert stats.quota_waits == 2  # the 503's wait is a back-off, not a quota wait
    assert stats.quota_wait_seconds == pytest.approx(sleeps[0] + sleeps[2])
    assert 14 <= stats.quota_wait_seconds <= 15  # Retry-After 7 twice, plus jitter
