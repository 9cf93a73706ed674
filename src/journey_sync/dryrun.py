"""``run --dry-run``'s printout: what each workflow's cycle would do, on stdout.

Kept small and apart on purpose: it only reads a cycle's report and plan. (The logs say
the same in one line per workflow on stderr.)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

from .cycles import Outcome
from .plan import Plan

EXAMPLES = 10  # how many of each kind of change are listed


def print_dry_run(
    outcomes: Sequence[Outcome], out: IO[str] | None = None, *, show_all: bool = False
) -> None:
    stream = out if out is not None else sys.stdout
    for outcome in outcomes:
        if outcome.report is None:
            print(f"{outcome.workflow}: could not plan a cycle (see the error above)", file=stream)
            continue
        print(f"{outcome.workflow}: {outcome.report.summary()}", file=stream)
        for problem in outcome.report.problems:
            print(f"  flagged {problem}", file=stream)
        if outcome.plan is not None:
            for line in plan_lines(outcome.plan, show_all=show_all):
                print(f"  {line}", file=stream)


def plan_lines(plan: Plan, *, show_all: bool = False) -> list[str]:
    """Each kind of action with its count, and its first few (all with ``show_all``).

    New leads are named by row and name: their ids are drawn by the real cycle."""
    lines: list[str] = []
    for heading, items in plan.lines():
        lines.append(f"would {heading}: {len(items)}")
        shown = items if show_all else items[:EXAMPLES]
        lines.extend(f"  {item}" for item in shown)
        if len(items) > len(shown):
            lines.append(f"  ... and {len(items) - len(shown)} more (--all lists every one)")
    for warning in plan.warnings:
        lines.append(f"warning: {warning}")
    return lines
