"""The command line. Only this module knows about argv, stdout and exit codes.

Exit codes: 0 success; 1 a cycle or check failed (the message says why); 2 the set-up is
wrong (invalid workflow file, missing setting): fix it before starting again.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from .errors import (
    JourneySyncError,
    SettingsError,
    WorkflowFileError,
    for_one_shot,
    naming_state_file,
)
from .settings import DEFAULT_SHEETS_API_URL, DEFAULT_TODOIST_API_URL, load_settings
from .workflow import WorkflowFile, load_workflows, summary

# The settings (environment variables) the commands read: (name, default, meaning).
# tests/newcomer/test_help.py checks that this lists every variable settings.py reads.
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("TODOIST_API_TOKEN", "", "Todoist personal API token"),
    ("TODOIST_API_TOKEN_FILE", "", "or a file holding it (Docker secrets)"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "", "path of the Google service account key (JSON)"),
    ("JOURNEY_SYNC_WORKFLOWS", "./workflows.yaml", "the workflow file"),
    ("JOURNEY_SYNC_STATE", "./journey-sync.db", "the SQLite state file"),
    ("JOURNEY_SYNC_SHEETS_API_URL", DEFAULT_SHEETS_API_URL, "Sheets API base URL"),
    ("JOURNEY_SYNC_TODOIST_API_URL", DEFAULT_TODOIST_API_URL, "Todoist API base URL"),
    ("JOURNEY_SYNC_INTERVAL", "60", "seconds between cycles"),
    ("JOURNEY_SYNC_HEALTH_PORT", "8080", "health endpoint port (0: off)"),
    ("JOURNEY_SYNC_HEALTH_HOST", "127.0.0.1", "health endpoint address"),
    ("JOURNEY_SYNC_SHUTDOWN_TIMEOUT", "8", "seconds a stop may take"),
    ("JOURNEY_SYNC_UNHEALTHY_AFTER", "1200", "seconds of failing cycles before unhealthy"),
    (
        "JOURNEY_SYNC_MISSING_GRACE",
        "86400",
        "seconds a lead's row may be gone before its open tasks are removed",
    ),
    ("JOURNEY_SYNC_RETRY_ATTEMPTS", "5", "attempts for a request that failed for a passing reason"),
    ("JOURNEY_SYNC_RETRY_DELAY", "1", "seconds before the first retry, doubled each time"),
    ("JOURNEY_SYNC_LOG_FORMAT", "text", "text or json"),
    ("JOURNEY_SYNC_INTAKE_PORT", "0", "port of POST /leads and /todoist/webhook (0: off)"),
    ("JOURNEY_SYNC_INTAKE_HOST", "127.0.0.1", "intake address (behind a TLS reverse proxy)"),
    ("JOURNEY_SYNC_INTAKE_TOKEN", "", "bearer token for POST /leads"),
    ("JOURNEY_SYNC_INTAKE_TOKEN_FILE", "", "or a file holding it"),
    ("JOURNEY_SYNC_INTAKE_FORM_KEYS", "", "keys for web forms (?key=), comma-separated"),
    ("JOURNEY_SYNC_INTAKE_RATE", "30", "lead posts a minute per client address"),
    ("JOURNEY_SYNC_INTAKE_PROXIES", "", "proxies whose X-Forwarded-For is believed"),
    ("TODOIST_CLIENT_ID", "", "the Todoist app's client id (todoist-connect)"),
    ("TODOIST_CLIENT_SECRET", "", "its client secret (OAuth, webhook signatures)"),
    ("TODOIST_CLIENT_SECRET_FILE", "", "or a file holding it"),
    ("JOURNEY_SYNC_TODOIST_OAUTH_URL", "https://todoist.com", "Todoist OAuth base URL"),
)


def _settings_text(names: Sequence[str] | None = None) -> str:
    rows = [row for row in SETTINGS if names is None or row[0] in names]
    width = max(len(name) for name, _, _ in rows)
    lines = ["settings (environment variables) read:"]
    for name, default, meaning in rows:
        lines.append(
            f"  {name:<{width}}  {meaning}" + (f" (default: {default})" if default else "")
        )
    return "\n".join(lines)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default (``off`` for a flag) unless its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._HelpAction)):
            return text if isinstance(action, argparse._HelpAction) else f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str = "",
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand: one line in the command list, the same line (and more) in its --help."""
    text = f"{summary[0].upper()}{summary[1:]}." + (f" {description}" if description else "")
    return sub.add_parser(
        name,
        help=summary,
        description=textwrap.fill(text, width=88),
        epilog=epilog,
        formatter_class=_HelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="journey-sync",
        description=textwrap.fill(
            "Sync a Google Sheet of leads with Todoist: tasks for each new lead, stage marks "
            "from completed tasks, colours and a funnel footer.",
            width=88,
        ),
        epilog="`journey-sync COMMAND --help` describes each command and its options.",
        formatter_class=_HelpFormatter,
    )
    parser.set_defaults(print_help=parser.print_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _command(
        sub,
        "validate",
        "check a workflow file and print what it defines",
        "Every problem is listed, each with its file:line and field.",
        epilog=_settings_text(["JOURNEY_SYNC_WORKFLOWS"]),
    )
    p.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="the workflow file (default: $JOURNEY_SYNC_WORKFLOWS, else ./workflows.yaml)",
    )

    p = _command(
        sub,
        "apply-template",
        "confirm a held change of the workflow's steps, so it reaches the existing tasks",
        "A workflow edit that would update or remove more than max_template_changes open "
        "tasks waits (each cycle logs that it does) until this command confirms that very "
        "version of the steps; check `journey-sync run --once --dry-run` first. The daemon "
        "may keep running: the change goes out at its next cycle.",
        epilog=_settings_text(["JOURNEY_SYNC_WORKFLOWS", "JOURNEY_SYNC_STATE"]),
    )
    p.add_argument("--workflow", help="only this workflow (by name); default: every one")

    p = _command(
        sub,
        "run",
        "run the sync service: one cycle of each workflow every JOURNEY_SYNC_INTERVAL seconds",
        "Stops cleanly on SIGTERM or Ctrl-C. Exit codes: 0 ok, 1 a --once cycle failed, "
        "2 the set-up is wrong.",
        epilog=_settings_text(),
    )
    p.add_argument("--once", action="store_true", help="run one cycle of each workflow and exit")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what one cycle would do and change nothing (implies --once)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        dest="show_all",
        help="with --dry-run: list every action, not the first 10 of each kind",
    )
    p.add_argument(
        "--accept-vanished-tasks",
        action="store_true",
        help="accept that tasks missing from Todoist's full answer were deleted on purpose "
        "(use once, after a cycle stopped saying they vanished)",
    )

    p = _command(
        sub,
        "report",
        "print the funnel: overall, by source and by month",
        "Reads the sheet (the same figures as the footer), and the days stages were "
        "reached from the state file (read-only) for the time between stages.",
        epilog=_settings_text(
            [
                "JOURNEY_SYNC_WORKFLOWS",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "JOURNEY_SYNC_SHEETS_API_URL",
                "JOURNEY_SYNC_STATE",
            ]
        ),
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print every figure as JSON")
    output.add_argument(
        "--csv", action="store_true", help="print every figure as CSV (one row per group, stage)"
    )
    p.add_argument(
        "--workflow", metavar="NAME", help="only the workflow of this name (default: all)"
    )

    _add_lead_parser(sub)
    _todoist_connect_parser(sub)

    _command(
        sub,
        "doctor",
        "check the set-up against the live services",
        "Each line says what passed or what to do.",
        epilog=_settings_text(),
    )

    p = _command(
        sub,
        "health",
        "ask a running service whether it is healthy (exit 0 healthy, 1 not)",
        epilog=_settings_text(["JOURNEY_SYNC_HEALTH_HOST", "JOURNEY_SYNC_HEALTH_PORT"]),
    )
    p.add_argument(
        "--url",
        help="the health endpoint "
        "(default: http://$JOURNEY_SYNC_HEALTH_HOST:$JOURNEY_SYNC_HEALTH_PORT/healthz)",
    )

    p = _command(
        sub,
        "demo",
        "a simulated year of a studio, through the real cycle, against the built-in sandbox",
        "Needs no account and no settings; prints the sheet, its footer and the funnel.",
    )
    p.add_argument("--leads", type=int, default=60, help="leads arriving over the year")
    p.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="folder for the coloured sheet"
    )
    p.add_argument("--seed", type=int, default=7, help="the same seed gives the same year")

    sandbox = _command(
        sub,
        "sandbox",
        "emulated Google Sheets, Google sign-in and Todoist APIs, for trying things",
        "Nothing leaves your machine; no account is needed.",
    )
    sandbox.set_defaults(print_help=sandbox.print_help)
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="SANDBOX_COMMAND")
    p = _command(
        sandbox_sub,
        "serve",
        "serve the emulators on one port until stopped (Ctrl-C or SIGTERM)",
        "Seeds a spreadsheet with made-up leads and writes into --workdir a service-account "
        "key, a workflows.yaml wired to that spreadsheet and an env file with every setting "
        "`journey-sync run` needs. Prints `ready` once it serves.",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    p.add_argument(
        "--workdir",
        type=Path,
        required=True,
        help="folder to write the key, workflow and env file into (required; no default)",
    )
    p.add_argument("--leads", type=int, default=20, help="made-up leads to seed the sheet with")
    p.add_argument("--seed", type=int, default=0, help="random seed for the made-up leads")
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
    settings = load_settings()
    workflows = load_workflows(settings.workflows)
    names = [workflow.name for workflow in workflows.workflows]
    if args.workflow is not None and args.workflow not in names:
        # Set-up, like an invalid workflow file: exit 2, before reading any sheet.
        raise SettingsError(
            f"no workflow is named {args.workflow!r} in {settings.workflows}; its workflows: "
            + ", ".join(repr(name) for name in names)
        )

    from .dates import today_in
    from .report import render_report
    from .sheet import read_sheet
    from .wiring import sheet_gateway

    outputs = []
    for workflow in workflows.workflows:
        if args.workflow is not None and workflow.name != args.workflow:
            continue
        model = read_sheet(workflow, sheet_gateway(workflow, settings).read())
        today = today_in(workflow.zone, datetime.now(UTC))
        outputs.append(
            render_report(
                workflow,
                list(model.leads),
                as_json=args.json,
                as_csv=args.csv,
                today=today,
                reached_on=_reached_on(settings.state, workflow.name),
            )
        )
    print("\n\n".join(outputs))
    return 0


def _reached_on(state_path: Path, workflow: str) -> dict[str, dict[str, date]] | None:
    """The days stages were reached, from the state file (read-only: a daemon may be
    running); None when there is no state file yet (or one from before the days were
    kept), so the report has no timing."""
    from .state import peek

    return peek(state_path, lambda store: store.reached(workflow))


class _Wording(logging.Filter):
    """Rewrites what a run logs, on every journey-sync logger: names the state file where a
    message says to delete it and, for a one-shot run (which exits after its cycle), says
    "run the command again" where a message promises a next cycle."""

    def __init__(self, *, one_shot: bool, state_file: Path) -> None:
        super().__init__()
        self.one_shot = one_shot
        self.state_file = str(state_file)

    def text(self, text: str) -> str:
        text = naming_state_file(text, self.state_file)
        return for_one_shot(text) if self.one_shot else text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        reworded = self.text(message)
        if reworded != message:
            record.msg, record.args = reworded, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                k: self.text(v) if isinstance(v, str) else v for k, v in fields.items()
            }
        return True


@contextlib.contextmanager
def _worded(wording: _Wording) -> Iterator[None]:
    # A logger's filters see only what is logged through that very logger, so the filter
    # goes on each of journey-sync's loggers (all exist once the daemon is imported).
    loggers = [logging.getLogger("journey_sync")] + [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("journey_sync.") and isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        logger.addFilter(wording)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(wording)


def cmd_run(args: argparse.Namespace) -> int:
    from .daemon import run

    one_shot = args.once or args.dry_run
    wording = _Wording(one_shot=one_shot, state_file=load_settings().state.resolve())
    args.reword = wording.text  # main() words an error raised out of the run the same way
    with _worded(wording):
        return run(
            once=args.once,
            dry_run=args.dry_run,
            show_all=args.show_all,
            accept_vanished_tasks=args.accept_vanished_tasks,
        )


def cmd_apply_template(args: argparse.Namespace) -> int:
    from .state import StateStore
    from .template import confirm_template

    settings = load_settings()
    chosen = [
        w
        for w in load_workflows(settings.workflows).workflows
        if args.workflow is None or w.name == args.workflow
    ]
    if not chosen:
        print(f"journey-sync apply-template: no workflow named {args.workflow!r}", file=sys.stderr)
        return 2
    state = StateStore(settings.state)
    try:
        for workflow in chosen:
            digest = confirm_template(state, workflow)
            print(
                f"{workflow.name}: steps version {digest} confirmed; its changes to existing "
                "tasks go out at the next cycle"
            )
    finally:
        state.close()
    return 0


def _add_lead_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "add-lead",
        "add a lead from a shell, as POST /leads does",
        "The same checks and the same intake file as the web form: the lead is written "
        "(as typed: RAW) in the row under the last lead, above the footer, with its lead "
        "id. The same --idempotency-key, or the same name, contact and source within 24 "
        "hours, never adds it twice. When the sheet cannot be written the lead is kept "
        "and the next cycle of `journey-sync run` writes it. Exit codes: 0 added (or "
        "kept, or already there), 2 a field or the set-up is wrong.",
        epilog=_settings_text(
            [
                "JOURNEY_SYNC_WORKFLOWS",
                "JOURNEY_SYNC_STATE",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "JOURNEY_SYNC_SHEETS_API_URL",
            ]
        ),
    )
    p.add_argument("--name", required=True, help="the lead's name (required)")
    p.add_argument("--source", help="source of the lead (default: none)")
    p.add_argument("--date", dest="lead_date", help="date of the lead, YYYY-MM-DD (default: today)")
    p.add_argument("--heard-about", help="how they heard about you (default: none)")
    p.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="ROLE=TEXT",
        help="any other column the workflow maps, by its role (e.g. email=ada@example.com); "
        "repeat for several (default: none)",
    )
    p.add_argument(
        "--workflow",
        metavar="NAME",
        help="the workflow, by name or slug (default: the only one)",
    )
    p.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="adding again with the same key adds nothing (default: none)",
    )


def _todoist_connect_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "todoist-connect",
        "authorise journey-sync's Todoist app once, which turns its webhooks on",
        "Todoist sends an app's webhooks only once its user has authorised the app through "
        "OAuth. Opens Todoist's authorisation page, takes the answer on "
        "http://127.0.0.1:PORT/callback (the app's OAuth redirect URL in Todoist's "
        "developer console), checks its state, exchanges the code for an access token and "
        "stores the token in a file of mode 0600 (never printed).",
        epilog=_settings_text(
            [
                "TODOIST_CLIENT_ID",
                "TODOIST_CLIENT_SECRET",
                "TODOIST_CLIENT_SECRET_FILE",
                "JOURNEY_SYNC_TODOIST_OAUTH_URL",
                "JOURNEY_SYNC_STATE",
            ]
        ),
    )
    p.add_argument(
        "--port",
        type=int,
        default=8766,
        help="port on 127.0.0.1 for Todoist's redirect (the redirect URL's port)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="file to store the token in (default: beside JOURNEY_SYNC_STATE, "
        "journey-sync-todoist-oauth-token for journey-sync.db)",
    )
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="only print the address to open, do not open a browser",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=300.0,
        help="seconds to wait for the browser to come back",
    )


def cmd_add_lead(args: argparse.Namespace) -> int:
    from .intake import Invalid, add_lead, workflow_named
    from .intake_store import IntakeStore, intake_path
    from .wiring import sheet_gateway

    settings = load_settings()
    workflows = load_workflows(settings.workflows).workflows
    chosen = workflow_named(workflows, args.workflow)
    if chosen is None:
        names = ", ".join(repr(w.name) for w in workflows)
        what = f"no workflow is named {args.workflow!r}" if args.workflow else "several workflows"
        print(f"journey-sync add-lead: {what}: use --workflow with one of {names}", file=sys.stderr)
        return 2
    workflow = chosen
    given: dict[str, object] = {"name": args.name}
    for role in ("source", "lead_date", "heard_about"):
        if getattr(args, role) is not None:
            given[role] = getattr(args, role)
    for item in args.field:
        role, sep, text = item.partition("=")
        if not sep or not role.strip():
            print(f"journey-sync add-lead: --field {item!r}: write ROLE=TEXT", file=sys.stderr)
            return 2
        given[role.strip()] = text
    key = args.idempotency_key
    if key is not None and not 0 < len(key.strip()) <= 200:
        print("journey-sync add-lead: --idempotency-key: 1 to 200 characters", file=sys.stderr)
        return 2
    store = IntakeStore(intake_path(settings.state))
    try:
        done = add_lead(
            store,
            workflow,
            workflows,
            given,
            key.strip() if key else None,
            lambda: sheet_gateway(workflow, settings),
        )
    except Invalid as exc:
        print("journey-sync add-lead: the lead was not added:", file=sys.stderr)
        for field_name, problem in exc.problems.items():
            print(f"  {field_name}: {problem}", file=sys.stderr)
        return 2
    finally:
        store.close()
    lead = done.lead
    if not done.new:
        where = f"row {lead.row}" if lead.row is not None else "not in the sheet yet"
        print(f"{workflow.name}: already added: lead {lead.lead_id} ({where}); nothing added")
    elif done.not_written is None:
        print(f"{workflow.name}: lead {lead.lead_id} added in row {lead.row}")
    if done.not_written is not None:
        print(
            f"{workflow.name}: lead {lead.lead_id} is kept in {store.path}, not in the sheet "
            f"yet ({done.not_written}); the next cycle of `journey-sync run` writes it",
            file=sys.stderr,
        )
    return 0


def cmd_todoist_connect(args: argparse.Namespace) -> int:
    from .connect import connect

    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port {args.port}: use a port from 1 to 65535 (0: any free one)")
    connect(
        load_settings(),
        port=args.port,
        out=args.out,
        open_browser=not args.no_browser,
        wait=args.wait,
    )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor()


def cmd_health(args: argparse.Namespace) -> int:
    from .health import check

    return check(args.url)


SANDBOX_MISSING = """journey-sync {command}: needs the sandbox (the emulated Google Sheets and
Todoist APIs), which is not installed: production installs leave it out.
Install it beside journey-sync, from a clone of the repository:
    pip install ./sandbox          (or: pip install '.[sandbox]' ./sandbox)
or run scripts/setup, which installs it into ./.venv."""


def _sandbox_installed(command: str) -> bool:
    """The sandbox is a separate distribution (journey-sync-sandbox): say how to get it."""
    import importlib.util

    if importlib.util.find_spec("journey_sync_sandbox") is not None:
        return True
    print(SANDBOX_MISSING.format(command=command), file=sys.stderr)
    return False


def cmd_demo(args: argparse.Namespace) -> int:
    if not _sandbox_installed("demo"):
        return 2
    from journey_sync_sandbox.demo import demo

    return demo(leads=args.leads, out=args.out, seed=args.seed)


def cmd_sandbox(args: argparse.Namespace) -> int:
    if not _sandbox_installed("sandbox"):
        return 2
    from journey_sync_sandbox.server import serve_main

    argv = ["serve", "--port", str(args.port), "--workdir", str(args.workdir)]
    return serve_main([*argv, "--leads", str(args.leads), "--seed", str(args.seed)])


COMMANDS = {
    "validate": cmd_validate,
    "run": cmd_run,
    "apply-template": cmd_apply_template,
    "add-lead": cmd_add_lead,
    "todoist-connect": cmd_todoist_connect,
    "report": cmd_report,
    "doctor": cmd_doctor,
    "health": cmd_health,
    "demo": cmd_demo,
    "sandbox": cmd_sandbox,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None or (args.command == "sandbox" and args.sandbox_command is None):
        args.print_help()  # `journey-sync` or `journey-sync sandbox` alone: what is there
        return 0
    try:
        return COMMANDS[args.command](args)
    except (WorkflowFileError, SettingsError) as exc:
        reword: Callable[[str], str] = getattr(args, "reword", str)
        print(
            f"journey-sync: {reword(str(exc))}" if isinstance(exc, SettingsError) else str(exc),
            file=sys.stderr,
        )
        return 2
    except JourneySyncError as exc:
        reword = getattr(args, "reword", str)
        print(f"journey-sync: {reword(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
