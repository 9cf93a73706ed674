"""``journey-sync demo``: a simulated year of a studio, run by the real sync cycle.

Three modules, one job each: ``simulation`` runs the year against the sandbox and
collects what the sheet and Todoist hold (a ``DemoResult``); ``terminal`` renders it as
text for a terminal; ``html_page`` renders the sheet, with its colours, as an HTML page.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from .html_page import render_html
from .simulation import DAYS, START, DemoResult, SimClock, simulate
from .terminal import render_text

__all__ = [
    "DAYS",
    "START",
    "DemoResult",
    "SimClock",
    "demo",
    "render_html",
    "render_text",
    "run_demo",
]


def demo(leads: int = 60, out: Path = Path("demo-output"), seed: int = 7) -> int:
    """The ``demo`` command: run the year, print the sheet, write ``out/sheet.html``."""
    if leads < 1:
        print("journey-sync demo: --leads must be at least 1", file=sys.stderr)
        return 2
    started = time.monotonic()
    result = run_demo(leads=leads, out=out, seed=seed, stream=sys.stdout)
    print(
        f"(a simulated year in {time.monotonic() - started:.1f} s: {result.stats.cycles} "
        f"cycles, {result.stats.cycle_seconds / max(1, result.stats.cycles) * 1000:.0f} ms "
        "each on average)",
        file=sys.stderr,
    )
    return 0


def run_demo(
    *,
    leads: int,
    out: Path,
    seed: int,
    stream: TextIO | None = None,
    colour: bool | None = None,
) -> DemoResult:
    """Run the year and render it; ``colour`` None means "if ``stream`` is a terminal"."""
    result = simulate(leads=leads, out=out, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    result.html_path.write_text(render_html(result), "utf-8")
    lines = render_text(result, colour=_wants_colour(stream) if colour is None else colour)
    result.output = "\n".join(lines) + "\n"
    if stream is not None:
        stream.write(result.output)
        stream.flush()
    return result


def _wants_colour(stream: TextIO | None) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(stream is not None and callable(isatty) and isatty())
