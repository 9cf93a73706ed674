"""Health logic with a fake clock, metric rendering, the endpoint and its client (point 3)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from journey_sync.engine import CycleReport
from journey_sync.funnel import Funnel, StageFigures
from journey_sync.health import Health, HealthServer, check
from journey_sync.wiring import ServiceStats


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _report(name: str, leads: int = 5) -> CycleReport:
    stages = (
        StageFigures("contacted", "Client contacted", 4, 80.0, 20.0, 0),
        StageFigures("first_paid", "First paid session", 1, 20.0, 75.0, 1),
    )
    return CycleReport(name, leads=leads, figures=Funnel(leads, 4, 80.0, 0, stages))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_healthy_during_the_grace_period_then_unhealthy_without_a_success(
    clock: FakeClock,
) -> None:
    health = Health(["A"], interval=60, clock=clock, wall=lambda: 1.7e9)
    assert health.status()[0] is True
    assert "no successful cycle yet" in health.status()[1]
    clock.now += 180  # exactly three intervals: still within
    assert health.status()[0] is True
    clock.now += 1
    healthy, text = health.status()
    assert healthy is False
    assert "A: unhealthy: no successful cycle yet" in text and "more than 3 intervals" in text


def test_success_keeps_it_healthy_for_three_intervals(clock: FakeClock) -> None:
    health = Health(["A", "B"], interval=10, clock=clock)
    clock.now += 25
    health.record_success("A", _report("A"))
    health.record_success("B", _report("B"))
    clock.now += 29
    assert health.status()[0] is True
    health.record_failure("A", "Todoist is unavailable; the next cycle will try again")
    healthy, text = health.status()
    assert healthy is True  # one failure is not yet unhealthy
    assert "the last cycle failed: Todoist is unavailable" in text
    clock.now += 2
    healthy, text = health.status()
    assert healthy is False
    assert "A: unhealthy: last successful cycle 31 s ago" in text
    assert "last error: Todoist is unavailable" in text
    # Every workflow must be fresh: B alone is also stale now, A recovering is not enough.
    health.record_success("A", _report("A"))
    assert health.status()[0] is False
    health.record_success("B", _report("B"))
    assert health.status()[0] is True


def test_metrics_render_the_prometheus_text_format(clock: FakeClock) -> None:
    stats = ServiceStats()
    stats.sheets.requests, stats.sheets.retries = 7, 1
    stats.todoist.requests = 4
    health = Health(
        ['Studio "A"\\B'], interval=60, stats=stats, clock=clock, wall=lambda: 1700000000.5
    )
    health.record_failure('Studio "A"\\B', "boom")
    health.record_success('Studio "A"\\B', _report('Studio "A"\\B'))
    text = health.metrics()
    label = 'workflow="Studio \\"A\\"\\\\B"'
    for line in [
        "# TYPE journey_sync_cycles_total counter",
        f"journey_sync_cycles_total{{{label}}} 2",
        f"journey_sync_cycle_failures_total{{{label}}} 1",
        'journey_sync_requests_total{service="sheets"} 7',
        'journey_sync_requests_total{service="todoist"} 4',
        'journey_sync_retries_total{service="sheets"} 1',
        'journey_sync_retries_total{service="todoist"} 0',
        f'journey_sync_leads{{{label},stage="contacted"}} 4',
        f'journey_sync_leads{{{label},stage="first_paid"}} 1',
        f"journey_sync_sheet_leads{{{label}}} 5",
        f"journey_sync_last_success_timestamp_seconds{{{label}}} 1700000000.5",
        "journey_sync_healthy 1",
    ]:
        assert line in text.splitlines(), line
    assert text.endswith("\n")
    # Every sample line belongs to a family announced by HELP and TYPE.
    families = {ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE")}
    for ln in text.splitlines():
        if not ln.startswith("#"):
            assert ln.split("{")[0].split(" ")[0] in families


def test_previous_success_shows_in_metrics_but_not_in_health(clock: FakeClock) -> None:
    health = Health(["A"], interval=1, clock=clock, previous_success={"A": 1234.0, "gone": 1.0})
    assert 'journey_sync_last_success_timestamp_seconds{workflow="A"} 1234.0' in health.metrics()
    clock.now += 4
    assert health.status()[0] is False  # an old process's success does not count


@pytest.fixture
def server(clock: FakeClock) -> Iterator[tuple[Health, HealthServer]]:
    health = Health(["A"], interval=10, clock=clock)
    server = HealthServer(health, "127.0.0.1", 0)
    server.start()
    yield health, server
    server.stop()


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_endpoint_answers_healthz_metrics_and_404(
    server: tuple[Health, HealthServer], clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    _, srv = server
    status, _, body = _get(f"{srv.url}/healthz")
    assert status == 200 and body.startswith("ok\n")
    assert check(f"{srv.url}/healthz") == 0
    clock.now += 31
    status, _, body = _get(f"{srv.url}/healthz")
    assert status == 503 and body.startswith("unhealthy\n") and "A: unhealthy" in body
    assert check(f"{srv.url}/healthz") == 1
    assert "A: unhealthy" in capsys.readouterr().out
    status, content_type, body = _get(f"{srv.url}/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert "journey_sync_healthy 0" in body
    assert _get(f"{srv.url}/nothing")[0] == 404


def test_health_client_without_a_server_or_with_the_endpoint_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOURNEY_SYNC_HEALTH_PORT", "0")
    assert check() == 1
    assert "turned off" in capsys.readouterr().err
    # A port nothing listens on (bound and closed just now).
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert check(f"http://127.0.0.1:{port}/healthz", timeout=2) == 1
    assert "no answer from" in capsys.readouterr().err


# ------------------------------------------------------- progress and the threshold


def test_a_failing_cycle_that_sent_work_is_progress_not_failure(clock: FakeClock) -> None:
    # A first onboarding: each cycle sends batches, then Todoist's quota cuts it short.
    health = Health(["A"], interval=60, clock=clock, unhealthy_after=1200)
    assert health.stale_after == 1200
    for _ in range(4):  # an hour of cycles cut short by the quota, each after some work
        clock.now += 900
        health.record_progress("A")
        health.record_failure("A", "Todoist is rate-limiting journey-sync")
        healthy, text = health.status()
        assert healthy is True, text
        assert "A: ok: no successful cycle yet" in text
        assert "last write accepted 0.0 s ago" in text
        assert "the last cycle failed: Todoist is rate-limiting" in text
    # Then nothing gets through any more: failing for longer than the threshold.
    clock.now += 1200
    assert health.status()[0] is True  # exactly the threshold: still within
    clock.now += 1
    healthy, text = health.status()
    assert healthy is False
    assert "A: unhealthy: no successful cycle yet" in text
    assert "last write accepted 1201 s ago, more than 1200 s" in text
    assert "last error: Todoist is rate-limiting" in text


def test_cycles_failing_longer_than_the_threshold_are_unhealthy(clock: FakeClock) -> None:
    health = Health(["A"], interval=60, clock=clock, unhealthy_after=300)
    health.record_success("A", _report("A"))
    for _ in range(5):  # failures with no write accepted (e.g. the sheet not shared)
        clock.now += 60
        health.record_failure("A", "the spreadsheet is not shared")
        assert health.status()[0] is True
    clock.now += 1
    healthy, text = health.status()
    assert healthy is False
    assert "A: unhealthy: last successful cycle 301 s ago, more than 300 s" in text
    health.record_success("A", _report("A"))
    assert health.status()[0] is True


def test_the_threshold_is_never_shorter_than_three_intervals(clock: FakeClock) -> None:
    # Cycles an hour apart are not failing after 20 minutes without one.
    health = Health(["A"], interval=3600, clock=clock, unhealthy_after=1200)
    assert health.stale_after == 3 * 3600
    health.record_success("A", _report("A"))
    clock.now += 2 * 3600
    assert health.status()[0] is True
    clock.now += 3601
    healthy, text = health.status()
    assert not healthy and "more than 3 intervals (10800 s)" in text


def test_metrics_show_quota_waits_and_the_process_memory_and_cpu(clock: FakeClock) -> None:
    stats = ServiceStats()
    stats.todoist.quota_waits, stats.todoist.quota_wait_seconds = 3, 42.5
    stats.sheets.quota_waits = 1
    health = Health(["A"], interval=60, stats=stats, clock=clock)
    burn = sum(i * i for i in range(200_000))  # some CPU time of our own
    lines = health.metrics().splitlines()
    assert 'journey_sync_quota_waits_total{service="todoist"} 3' in lines
    assert 'journey_sync_quota_waits_total{service="sheets"} 1' in lines
    assert 'journey_sync_quota_wait_seconds_total{service="todoist"} 42.5' in lines
    assert "# TYPE process_resident_memory_bytes gauge" in lines
    assert "# TYPE process_cpu_seconds_total counter" in lines
    samples = {ln.split()[0]: float(ln.split()[1]) for ln in lines if not ln.startswith("#")}
    # This test process is a Python interpreter with pytest loaded: tens of MB at least,
    # and far from a terabyte (pages, not bytes, would be off by 4096).
    assert 10e6 < samples["process_resident_memory_bytes"] < 1e12
    assert samples["process_cpu_seconds_total"] > 0 and burn > 0
