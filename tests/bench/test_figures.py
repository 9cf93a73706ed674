"""``figures.repeated``: a cycle run several times counts as its median CPU and its worst
requests and memory (pure; no processes)."""

from __future__ import annotations

from bench.figures import Cycle, repeated


def sample(cpu: float, *, reads: int = 1, peak: float | None = 100.0) -> Cycle:
    return Cycle(
        sheets_reads=reads,
        sheets_writes=0,
        todoist_requests=1,
        oauth_token_requests=0,
        wall_s=cpu * 2,
        cpu_s=cpu,
        cycle_peak_rss_mb=peak,
        rss_after_mb=peak,
        client={"sheets_reads": reads, "sheets_writes": 0, "todoist_requests": 1},
        report={"summary": f"cpu {cpu}"},
    )


def test_the_median_sample_gives_the_cpu_and_its_own_wall_and_report() -> None:
    one = repeated([sample(0.05), sample(0.02), sample(0.09), sample(0.03), sample(0.04)])
    assert one.cpu_s == 0.04 and one.wall_s == 0.08
    assert one.report == {"summary": "cpu 0.04"}
    assert one.cpu_samples_s == [0.05, 0.02, 0.09, 0.03, 0.04]  # in the order run


def test_an_even_number_of_samples_takes_the_lower_middle_one() -> None:
    assert repeated([sample(0.4), sample(0.1), sample(0.3), sample(0.2)]).cpu_s == 0.2


def test_requests_and_memory_are_the_worst_samples_never_smoothed() -> None:
    one = repeated(
        [
            sample(0.01, reads=1, peak=90.0),
            sample(0.02, reads=3, peak=None),
            sample(0.03, reads=1, peak=120.0),
        ]
    )
    assert one.cpu_s == 0.02
    assert one.sheets_reads == 3 and one.client["sheets_reads"] == 3
    assert one.cycle_peak_rss_mb == 120.0 and one.rss_after_mb == 120.0


def test_one_sample_is_itself() -> None:
    one = repeated([sample(0.07)])
    assert one.cpu_s == 0.07 and one.cpu_samples_s == [0.07] and one.sheets_reads == 1
