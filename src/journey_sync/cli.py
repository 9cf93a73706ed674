"""The command line. Only this module knows about argv, stdout and exit codes.

Exit codes: 0 success; 1 a cycle or check failed (the message says why); 2 the set-up is
wrong (invalid workflow file, missing setting): fix it before starting again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import JourneySyncError, SettingsError, UserError, WorkflowFileError
from .settings import load_settings
from .workflow import WorkflowFile, load_workflows, summary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="journey-sync",
        description="Sync a Google Sheet of leads with Todoist: tasks for each new lead, "
        "stage marks from completed tasks, colours and a funnel footer.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a workflow file and print what it defines")
    p.add_argument(
        "file", nargs="?", type=Path, help="default: $JOURNEY_SYNC_WORKFLOWS or ./workflows.yaml"
    )

    p = sub.add_parser("run", help="run the sync service (every JOURNEY_SYNC_INTERVAL seconds)")
    p.add_argument("--once", action="store_true", help="run one cycle of each workflow and exit")
    p.add_argument(
        "--dry-run", action="store_true", help="print what one cycle would do; change nothing"
    )

    p = sub.add_parser("report", help="print the funnel: overall, by source and by month")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.add_argument("--workflow", help="only this workflow (by name)")

    sub.add_parser("doctor", help="check the set-up against the live services")

    p = sub.add_parser("health", help="ask a running service whether it is healthy (exit 0/1)")
    p.add_argument("--url", help="default: http://127.0.0.1:$JOURNEY_SYNC_HEALTH_PORT/healthz")

    p = sub.add_parser("demo", help="a simulated year of a studio against the built-in sandbox")
    p.add_argument("--leads", type=int, default=60, help="leads arriving over the year")
    p.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="folder for the HTML sheet"
    )
    p.add_argument("--seed", type=int, default=7)

    p = sub.add_parser("sandbox", help="emulated Google Sheets and Todoist APIs, for trying things")
    p.add_argument(
        "sandbox_args", nargs=argparse.REMAINDER, help="serve --port PORT --workdir DIR [--leads N]"
    )
    return parser


def load_file(path: Path | None) -> WorkflowFile:
    return load_workflows(path or load_settings().workflows)


def cmd_validate(args: argparse.Namespace) -> int:
    workflows = load_file(args.file)
    for workflow in workflows.workflows:
        print(summary(workflow))
    print(f"ok: {len(workflows.workflows)} workflow(s) valid")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import render_report
    from .sheet import read_sheet
    from .wiring import sheet_gateway

    settings = load_settings()
    workflows = load_workflows(settings.workflows)
    outputs = []
    for workflow in workflows.workflows:
        if args.workflow and workflow.name != args.workflow:
            continue
        model = read_sheet(workflow, sheet_gateway(workflow, settings).read())
        outputs.append(render_report(workflow, list(model.leads), as_json=args.json))
    print("\n\n".join(outputs))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .daemon import run

    return run(once=args.once, dry_run=args.dry_run)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor()


def cmd_health(args: argparse.Namespace) -> int:
    from .health import check

    return check(args.url)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo

    return demo(leads=args.leads, out=args.out, seed=args.seed)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox.server import serve_main

    return serve_main(list(args.sandbox_args))


COMMANDS = {
    "validate": cmd_validate,
    "run": cmd_run,
    "report": cmd_report,
    "doctor": cmd_doctor,
    "health": cmd_health,
    "demo": cmd_demo,
    "sandbox": cmd_sandbox,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (WorkflowFileError, SettingsError) as exc:
        print(
            f"journey-sync: {exc}" if isinstance(exc, SettingsError) else str(exc), file=sys.stderr
        )
        return 2
    except UserError as exc:
        print(f"journey-sync: {exc}", file=sys.stderr)
        return 1
    except JourneySyncError as exc:
        print(f"journey-sync: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
