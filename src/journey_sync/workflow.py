"""The workflow file: strict, frozen models and a loader that reports every error with its line.

A workflow says which sheet holds the leads, which columns play which role (found by header
text), the stages of the funnel in order, and the steps (Todoist tasks) each lead gets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time as TimeOfDay
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigProblem, WorkflowFileError

_KEY = r"^[a-z][a-z0-9_]*$"
_OFFSET = re.compile(r"^\+(\d{1,4})([dwm])$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SPREADSHEET_URL = re.compile(r"/spreadsheets/d/([a-zA-Z0-9_-]+)")


class _Strict(BaseModel):
    # Unknown keys are errors (a typo must not be silently ignored); models are immutable.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Header = Annotated[str, Field(min_length=1, max_length=200)]


class Offset(_Strict):
    """A due offset from the lead date: ``+3d``, ``+2w`` or ``+6m`` (calendar months)."""

    amount: int
    unit: Literal["d", "w", "m"]

    @classmethod
    def parse(cls, text: str) -> Offset:
        match = _OFFSET.match(text.strip())
        if not match:
            raise ValueError(
                f"{text!r} is not an offset: write +<n>d, +<n>w or +<n>m, e.g. +0d, +2w, +12m"
            )
        return cls(amount=int(match.group(1)), unit=match.group(2))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"+{self.amount}{self.unit}"


class Columns(_Strict):
    """Column roles mapped to header text."""

    name: Header
    lead_date: Header
    lead_id: Header
    source: Header | None = None
    heard_about: Header | None = None
    coach: Header | None = None
    reason_left: Header | None = None
    left_on: Header | None = None
    # Any other columns a step's text may quote, as {key}.
    extra: dict[Annotated[str, Field(pattern=_KEY)], Header] = Field(default_factory=dict)

    def roles(self) -> dict[str, str]:
        """Every mapped role (including extras) to its header."""
        found = {
            role: header
            for role in (
                "name",
                "lead_date",
                "lead_id",
                "source",
                "heard_about",
                "coach",
                "reason_left",
                "left_on",
            )
            if (header := getattr(self, role)) is not None
        }
        found.update(self.extra)
        return found


class SheetRef(_Strict):
    spreadsheet: Annotated[str, Field(min_length=10)]
    worksheet: Header
    header_row: Annotated[int, Field(ge=1, le=1000)] = 1
    date_format: str | None = None  # strptime format for dates typed as text
    columns: Columns

    @property
    def spreadsheet_id(self) -> str:
        match = _SPREADSHEET_URL.search(self.spreadsheet)
        return match.group(1) if match else self.spreadsheet


class Stage(_Strict):
    key: Annotated[str, Field(pattern=_KEY)]
    header: Header


class Step(_Strict):
    key: Annotated[str, Field(pattern=_KEY)]
    content: Annotated[str, Field(min_length=1, max_length=500)]
    description: Annotated[str, Field(max_length=8000)] = ""
    due: Offset
    time: TimeOfDay | None = None  # time of day in the workflow's zone; none = all-day task
    priority: Annotated[int, Field(ge=1, le=4)] = 1  # Todoist API scale: 4 is most urgent
    labels: tuple[Annotated[str, Field(min_length=1, max_length=60)], ...] = ()
    marks: str | None = None  # the stage key completing this step marks
    weekend: Literal["keep", "next_weekday", "previous_weekday"] = "keep"

    @field_validator("due", mode="before")
    @classmethod
    def _parse_offset(cls, value: Any) -> Any:
        if isinstance(value, str):
            return Offset.parse(value)
        if isinstance(value, int):
            raise ValueError(f"{value!r} is not an offset: write it with a unit, e.g. +{value}d")
        return value

    @field_validator("time", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> Any:
        if isinstance(value, int):
            # YAML 1.1 reads 10:00 unquoted as the sexagesimal number 600.
            raise ValueError('write the time in quotes, e.g. "10:00"')
        return value


class Workflow(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    time_zone: str
    todoist_project: Annotated[str, Field(min_length=1, max_length=120)]
    sheet: SheetRef
    stages: Annotated[tuple[Stage, ...], Field(min_length=1)]
    paid_stage: str | None = None
    on_leave: Literal["delete", "complete", "keep"] = "delete"
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone; use a name like Europe/London"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Workflow:
        problems: list[str] = []
        stage_keys = [s.key for s in self.stages]
        for key in _duplicates(stage_keys):
            problems.append(f"stages: stage key {key!r} is used twice")
        headers = [s.header.casefold() for s in self.stages] + [
            h.casefold() for h in self.sheet.columns.roles().values()
        ]
        for header in _duplicates(headers):
            problems.append(f"sheet.columns: header {header!r} is mapped twice")
        for key in _duplicates([s.key for s in self.steps]):
            problems.append(f"steps: step key {key!r} is used twice")
        if self.paid_stage is not None and self.paid_stage not in stage_keys:
            problems.append(
                f"paid_stage: {self.paid_stage!r} is not a stage key ({', '.join(stage_keys)})"
            )
        placeholders = set(self.sheet.columns.roles()) | {"name", "lead_date"}
        for index, step in enumerate(self.steps):
            if step.marks is not None and step.marks not in stage_keys:
                problems.append(
                    f"steps.{index}.marks: {step.marks!r} is not a stage key ({', '.join(stage_keys)})"
                )
            for field_name in ("content", "description"):
                for found in _PLACEHOLDER.findall(getattr(step, field_name)):
                    if found not in placeholders:
                        problems.append(
                            f"steps.{index}.{field_name}: unknown placeholder {{{found}}}; "
                            f"use one of {', '.join('{' + p + '}' for p in sorted(placeholders))}"
                        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def stage(self, key: str) -> Stage:
        return next(s for s in self.stages if s.key == key)


class WorkflowFile(_Strict):
    workflows: Annotated[tuple[Workflow, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> WorkflowFile:
        for name in _duplicates([w.name for w in self.workflows]):
            raise ValueError(f"workflow name {name!r} is used twice")
        return self


def _duplicates(items: list[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for item in items:
        if item in seen and item not in dup:
            dup.append(item)
        seen.add(item)
    return dup


# ------------------------------------------------------------------ loading


def load_workflows(path: Path | str) -> WorkflowFile:
    """Load and validate a workflow file; raise ``WorkflowFileError`` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowFileError(
            [ConfigProblem(str(path), None, "", f"cannot read the workflow file ({exc.strerror})")]
        ) from None
    return parse_workflows(text, str(path))


def parse_workflows(text: str, filename: str = "workflows.yaml") -> WorkflowFile:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowFileError(
            [ConfigProblem(filename, line, "", f"YAML syntax error: {problem}")]
        ) from None
    if node is None or data is None:
        raise WorkflowFileError([ConfigProblem(filename, 1, "", "the file is empty")])
    lines: dict[tuple[str | int, ...], int] = {}
    _index_lines(node, (), lines)
    try:
        return WorkflowFile.model_validate(data)
    except ValidationError as exc:
        raise WorkflowFileError(_problems(exc, filename, lines)) from None


def _index_lines(
    node: yaml.Node, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]
) -> None:
    """Remember the line of every mapping key and sequence item, by its path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines)


def _problems(
    exc: ValidationError, filename: str, lines: Mapping[tuple[str | int, ...], int]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    errors = [
        # Drop pydantic's internal tags (e.g. "function-after[...]") from the path.
        (tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p)), e)
        for e in exc.errors()
    ]
    for loc, error in errors:
        if error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other, _ in errors
        ):
            continue  # "at least 1 item" only because an item failed: noise.
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        for sub in message.split("\n"):
            field, _, text = sub.partition(": ")
            if text and ("." in field or field.isidentifier()) and " " not in field:
                sub_loc: tuple[str | int, ...] = (*loc, *(_to_parts(field)))
                problems.append(
                    ConfigProblem(filename, _line_for(sub_loc, lines), _dotted(sub_loc), text)
                )
            else:
                problems.append(ConfigProblem(filename, _line_for(loc, lines), _dotted(loc), sub))
    return problems


def _to_parts(field: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in field.split(".")]


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _line_for(loc: tuple[str | int, ...], lines: Mapping[tuple[str | int, ...], int]) -> int | None:
    # The nearest located ancestor: a missing key is reported at its parent's line.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def summary(workflow: Workflow) -> str:
    """A short human description, printed by ``journey-sync validate``."""
    out = [
        f"workflow {workflow.name!r}: sheet {workflow.sheet.worksheet!r} of "
        f"{workflow.sheet.spreadsheet_id}, Todoist project {workflow.todoist_project!r}, "
        f"time zone {workflow.time_zone}, on leave: {workflow.on_leave}",
        "  stages (funnel order): "
        + ", ".join(
            s.header + (" [paid]" if s.key == workflow.paid_stage else "") for s in workflow.stages
        ),
        f"  steps ({len(workflow.steps)}):",
    ]
    for step in workflow.steps:
        extra = f" at {step.time:%H:%M}" if step.time else ""
        marks = f" -> marks {workflow.stage(step.marks).header!r}" if step.marks else ""
        out.append(f"    {step.due!s:>5}{extra}  {step.key}: {step.content}{marks}")
    return "\n".join(out)
