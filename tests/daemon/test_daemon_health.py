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
