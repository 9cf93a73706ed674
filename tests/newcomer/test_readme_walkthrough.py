"""The README's sandbox walkthrough, run as written.

Every ``sh`` block of the README's sandbox section is taken from README.md itself and run,
in order, in one bash session (so its variables carry over from block to block), against a
fresh ``journey-sync sandbox serve`` that the first block starts. The only change made to the
text is the port and the folder (a free port and a temporary folder instead of 8765 and
/tmp/js-sandbox). Each documented outcome is asserted: the sandbox's files, Robin's task
count (read from the README's own sentence), the two marks after ticking and typing, and the
reminder closed by the typed mark.
"""

from __future__ import annotations

import ast
import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = "## The sandbox: try your own workflow before touching your real sheet"
BLOCK_TIMEOUT = 120.0

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("bash") is None, reason="the README's blocks are sh"),
]


def walkthrough() -> tuple[str, list[str]]:
    """The README's sandbox section and its ``sh`` blocks, in order."""
    start = README.index(SECTION)
    end = README.index("\n## ", start + len(SECTION))
    section = README[start:end]
    return section, re.findall(r"^```sh\n(.*?)^```$", section, flags=re.S | re.M)


class Shell:
    """One bash process fed block by block; output read until each block's end marker."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        # Any failing command is reported, with its text, instead of passing silently.
        self.send("set -o pipefail; trap 'echo \"__FAILED__ rc=$? $BASH_COMMAND\"' ERR")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def until(self, done: str, timeout: float = BLOCK_TIMEOUT) -> list[str]:
        """Lines up to (not including) the first line equal to ``done``."""
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {done!r} within {timeout:g} s; output: {out}") from None
            if line is None:
                raise AssertionError(f"bash ended before {done!r}; output: {out}")
            self.seen.append(line)
            if line == done:
                return out
            out.append(line)

    def block(self, number: int, text: str) -> list[str]:
        marker = f"__BLOCK_{number}_DONE__"
        self.send(text.rstrip("\n"))
        self.send(f"echo {marker}")
        return self.until(marker)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # the sandbox is in its group too
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    # `. .venv/bin/activate` finds the virtualenv running these tests, as it would in a clone.
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip("the tests do not run in a virtualenv: nothing for `. .venv/bin/activate`")
    (tmp_path / "clone").mkdir()
    (tmp_path / "clone" / ".venv").symlink_to(venv)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOURNEY_SYNC_", "TODOIST_", "GOOGLE_", "VIRTUAL_ENV"))
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != venv / "bin"
    )
    session = Shell(tmp_path / "clone", env)
    try:
        yield session
    finally:
        session.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows(lines: list[str]) -> list[list[str]]:
    return [ast.literal_eval(line) for line in lines if line.startswith("[")]


def test_the_walkthrough_has_the_blocks_this_test_expects() -> None:
    section, blocks = walkthrough()
    assert len(blocks) == 5
    assert (
        "journey-sync sandbox serve --port 8765 --workdir /tmp/js-sandbox --leads 5 &"
        in (blocks[0])
    )
    assert not any("jq " in block or "curl " in block for block in blocks)  # python only
    assert re.search(r"prints Robin's \d+ tasks", section)


def test_every_block_of_the_sandbox_walkthrough_runs_as_documented(
    shell: Shell, tmp_path: Path
) -> None:
    section, blocks = walkthrough()
    workdir = tmp_path / "js-sandbox"
    port = str(free_port())
    blocks = [b.replace("/tmp/js-sandbox", str(workdir)).replace("8765", port) for b in blocks]
    serve, cycle, look, new_lead, tick_and_type = blocks

    # 1. the sandbox starts in the background and prints `ready`; its folder is filled.
    shell.block(1, serve)
    shell.until("ready")
    for name in ("service-account.json", "workflows.yaml", "env"):
        assert (workdir / name).is_file(), name

    # 2. dry run, one cycle, report: all succeed; the report counts the 5 seeded leads.
    out = shell.block(2, cycle)
    assert not [line for line in out if line.startswith("__FAILED__")], out
    assert any(re.search(r"all leads: 5 leads", line) for line in out), out

    # 3. the sheet as a person sees it: headers, the 5 leads with their new ids.
    out = shell.block(3, look)
    assert not [line for line in out if line.startswith("__FAILED__")], out
    sheet = rows(out)
    header = sheet[0]
    assert header[:4] == [
        "Client name",
        "Date of lead",
        "How did you hear about us?",
        "Source of lead",
    ]
    leads = sheet[1:6]
    assert len(leads) == 5 and all(
        re.fullmatch(r"L-\w+", row[header.index("Lead ID")]) for row in leads
    )
    assert len(sheet) <= 6 or not any(sheet[6]), "row 7 must be blank for the next block"

    # 4. the new lead gets exactly the number of tasks the README says, all of them its own.
    out = shell.block(4, new_lead)
    assert not [line for line in out if line.startswith("__FAILED__")], out
    documented = int(re.search(r"prints Robin's (\d+) tasks", section)[1])  # type: ignore[index]
    tasks = [line for line in out if re.match(r"^\S+ \d{4}-\d{2}-\d{2}\S* ", line)]
    assert len(tasks) == documented, "\n".join(out)
    assert all("Robin Example" in line for line in tasks)
    assert any(
        line.split(" ", 2)[2] == "Contact Robin Example (lead from Walk-in)" for line in tasks
    )

    # 5. tick "Contact", type a 1 under "Client meeting booked": both marks in the row, and
    #    the reminder of the typed stage closed.
    out = shell.block(5, tick_and_type)
    assert not [line for line in out if line.startswith("__FAILED__")], out
    [row] = rows(out)
    assert row[0] == "Robin Example"
    assert row[header.index("Client contacted")] == "1"
    assert row[header.index("Client meeting booked")] == "1"
    out = shell.block(6, new_lead.splitlines()[-1])  # the README's own task listing, again
    still_open = [line.split(" ", 2)[2] for line in out if re.match(r"^\S+ \d{4}-", line)]
    assert "Book a first meeting with Robin Example" not in still_open
    assert "Contact Robin Example (lead from Walk-in)" not in still_open
    assert len(still_open) == documented - 2

    # `kill %1` stops the sandbox, as the README says.
    assert "`kill %1` stops the sandbox" in section
    shell.block(7, "kill %1; wait")
