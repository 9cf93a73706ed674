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


def print_dry_run(outcomes: Sequence[Outcome], out: IO[str] | None = None) -> None:
    stream = out if out is not None else sys.stdout
    for outcome in outcomes:
        if outcome.report is None:
            print(f"{outcome.workflow}: could not plan a cycle (see the error above)", file=stream)
            continue
        print(f"{outcome.workflow}: {outcome.report.summary()}", file=stream)
        for problem in outcome.report.problems:
            print(f"  flagged {problem}", file=stream)
        if outcome.plan is not None:
            for line in plan_lines(outcome.plan):
                print(f"  {line}", file=stream)


def plan_lines(plan: Plan) -> list[str]:
    # The plan's leads carry their ids, new ones included (ids it would assign).
    names = {lead.lead_id: lead.name for lead in plan.leads if lead.lead_id}

    def who(lead_id: str) -> str:
        return f"{names[lead_id]} ({lead_id})" if lead_id in names else lead_id

    kinds: list[tuple[str, list[str]]] = [
        (
            "create task",
            [
                f"{t.content!r} due {t.due.day.isoformat()} for {who(t.lead_id)}"
                for t in plan.creates
            ],
        ),
        ("write mark", [f"{stage} for {who(lead_id)}" for lead_id, stage in plan.marks_written]),
        ("clear mark", [f"{stage} for {who(lead_id)}" for lead_id, stage in plan.marks_cleared]),
        ("complete task", [f"{a.step_key} of {who(a.lead_id)} ({a.why})" for a in plan.closes]),
        ("remove task", [f"{a.step_key} of {who(a.lead_id)} ({a.why})" for a in plan.deletes]),
    ]
    lines: list[str] = []
    for kind, items in kinds:
        lines.extend(f"would {kind}: {item}" for item in items[:EXAMPLES])
        if len(items) > EXAMPLES:
            lines.append(f"... and {len(items) - EXAMPLES} more to {kind}")
    return lines
