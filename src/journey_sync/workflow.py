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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import ConfigProblem, WorkflowFileError

_KEY = r"^[a-z][a-z0-9_]*$"
_OFFSET = re.compile(r"^\+(\d{1,4})([dwm])$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SPREADSHEET_URL = re.compile(r"/spreadsheets/d/([a-zA-Z0-9_-]+)")
_ROLES = (
    "name",
    "lead_date",
    "lead_id",
    "source",
    "heard_about",
    "coach",
    "reason_left",
    "left_on",
)
# Set by parse_workflows, which checks cross references on the raw file itself (so they are
# listed together with the schema errors, not only once those are fixed).
_CROSS_CHECKED = "cross_checked"

Loc = tuple[str | int, ...]


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
        found = {role: header for role in _ROLES if (header := getattr(self, role)) is not None}
        found.update(self.extra)
        return found


class SheetRef(_Strict):
    spreadsheet: Annotated[str, Field(min_length=10)]
    worksheet: Header
    header_row: Annotated[int, Field(ge=1, le=1000)] = 1
    date_format: str | None = None  # strptime format for dates typed as text
    columns: Columns
    # The title of the tab journey-sync keeps with the funnel's tables and charts
    # (created if missing; no other tab is ever touched). Left out: no such tab.
    funnel_tab: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _funnel_tab_is_another_tab(self) -> SheetRef:
        if self.funnel_tab is not None and self.funnel_tab.strip() == self.worksheet.strip():
            raise ValueError(
                f"funnel_tab {self.funnel_tab!r} is the leads' worksheet: give the Funnel "
                "tab a title of its own (journey-sync writes that whole tab's block)."
            )
        return self

    @property
    def spreadsheet_id(self) -> str:
        match = _SPREADSHEET_URL.search(self.spreadsheet)
        return match.group(1) if match else self.spreadsheet


class Stage(_Strict):
    key: Annotated[str, Field(pattern=_KEY)]
    header: Header


class Step(_Strict):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True
    )
    key: Annotated[str, Field(pattern=_KEY)]
    content: Annotated[str, Field(min_length=1, max_length=500)]
    description: Annotated[str, Field(max_length=8000)] = ""
    due: Offset
    time: TimeOfDay | None = None  # time of day in the workflow's zone; none = all-day task
    priority: Annotated[int, Field(ge=1, le=4)] = 1  # Todoist API scale: 4 is most urgent
    labels: tuple[Annotated[str, Field(min_length=1, max_length=60)], ...] = ()
    marks: str | None = None  # the stage key completing this step marks
    weekend: Literal["keep", "next_weekday", "previous_weekday"] = "keep"
    # ``for: coach``: the lead's task is assigned to the coach named in the sheet.
    for_: Literal["coach"] | None = Field(default=None, alias="for")
    # The key this step had before (its tasks and records are this step's, not removed).
    renamed_from: Annotated[str, Field(pattern=_KEY)] | None = None

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
    # What happens to the open tasks of a step removed from the file.
    on_step_removed: Literal["delete", "keep"] = "keep"
    # A template edit that would update or remove more tasks than this waits for
    # ``journey-sync apply-template``.
    max_template_changes: Annotated[int, Field(ge=0)] = 500
    # Names typed in "Name of coach" -> a collaborator's full name or e-mail in Todoist,
    # where they differ.
    coaches: dict[Annotated[str, Field(min_length=1)], Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict
    )

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
    def _consistent(self, info: ValidationInfo) -> Workflow:
        if info.context and info.context.get(_CROSS_CHECKED):
            return self
        problems = cross_problems(self.model_dump())
        if problems:
            raise ValueError("\n".join(f"{_dotted(loc)}: {text}" for loc, text in problems))
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def stage(self, key: str) -> Stage:
        return next(s for s in self.stages if s.key == key)


class WorkflowFile(_Strict):
    workflows: Annotated[tuple[Workflow, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self, info: ValidationInfo) -> WorkflowFile:
        if info.context and info.context.get(_CROSS_CHECKED):
            return self
        for name in _duplicates([w.name for w in self.workflows]):
            raise ValueError(f"workflow name {name!r} is used twice")
        return self


def cross_problems(workflow: Any) -> list[tuple[Loc, str]]:
    """Cross references of one workflow (raw file data or a model dump): duplicate keys and
    headers, ``paid_stage`` and ``marks`` naming a stage, placeholders naming a column.

    Works on whatever parts are well-formed, so these problems are listed in the same run
    as schema errors elsewhere in the file. Locations point at the offending item.
    """
    if not isinstance(workflow, Mapping):
        return []
    problems: list[tuple[Loc, str]] = []
    stages = _items(workflow.get("stages"))
    steps = _items(workflow.get("steps"))
    stage_keys: list[str] = []
    for index, stage in stages:
        key = _text(stage.get("key"))
        if key is not None:
            if key in stage_keys:
                problems.append((("stages", index, "key"), f"stage key {key!r} is used twice"))
            stage_keys.append(key)
    known = ", ".join(dict.fromkeys(stage_keys)) or "no stages are defined"
    headers: set[str] = set()
    columns = (
        workflow.get("sheet", {}).get("columns")
        if isinstance(workflow.get("sheet"), Mapping)
        else None
    )
    roles = _roles(columns)
    located: list[tuple[Loc, str | None]] = [
        (("stages", index, "header"), _text(stage.get("header"))) for index, stage in stages
    ] + [(("sheet", "columns", *path), header) for path, header in roles]
    for loc, header in located:
        if header is None:
            continue
        if header.casefold() in headers:
            problems.append((loc, f"header {header!r} is mapped twice"))
        headers.add(header.casefold())
    paid = _text(workflow.get("paid_stage"))
    if paid is not None and paid not in stage_keys:
        problems.append((("paid_stage",), f"{paid!r} is not a stage key ({known})"))
    placeholders = {path[-1] for path, _ in roles if isinstance(path[-1], str)} | {
        "name",
        "lead_date",
    }
    step_keys: list[str] = []
    renamed: list[str] = []
    for index, step in steps:
        key = _text(step.get("key"))
        if key is not None:
            if key in step_keys:
                problems.append((("steps", index, "key"), f"step key {key!r} is used twice"))
            step_keys.append(key)
        old = _text(step.get("renamed_from"))
        if old is not None and old in renamed:
            problems.append(
                (("steps", index, "renamed_from"), f"two steps are renamed from {old!r}")
            )
        if old is not None:
            renamed.append(old)
        marks = _text(step.get("marks"))
        if marks is not None and marks not in stage_keys:
            problems.append((("steps", index, "marks"), f"{marks!r} is not a stage key ({known})"))
        for field_name in ("content", "description"):
            text = step.get(field_name)
            if not isinstance(text, str):
                continue
            for found in _PLACEHOLDER.findall(text):
                if found not in placeholders:
                    problems.append(
                        (
                            ("steps", index, field_name),
                            f"unknown placeholder {{{found}}}; use one of "
                            + ", ".join("{" + p + "}" for p in sorted(placeholders)),
                        )
                    )
    for index, step in steps:
        old = _text(step.get("renamed_from"))
        if old is not None and old in step_keys:
            problems.append(
                (
                    ("steps", index, "renamed_from"),
                    f"{old!r} is still a step key: a renamed step's old key must be gone",
                )
            )
    return problems


def _file_cross_problems(data: Any) -> list[tuple[Loc, str]]:
    if not isinstance(data, Mapping):
        return []
    problems: list[tuple[Loc, str]] = []
    names: list[str] = []
    for index, workflow in _items(data.get("workflows")):
        name = _text(workflow.get("name"))
        if name is not None:
            if name in names:
                problems.append(
                    (("workflows", index, "name"), f"workflow name {name!r} is used twice")
                )
            names.append(name)
        problems.extend(
            ((("workflows", index, *loc), text) for loc, text in cross_problems(workflow))
        )
    return problems


def _items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(value, (list, tuple)):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _roles(columns: Any) -> list[tuple[Loc, str | None]]:
    """(path under sheet.columns, header) of every mapped role, extras included."""
    if not isinstance(columns, Mapping):
        return []
    found: list[tuple[Loc, str | None]] = [
        ((role,), _text(columns.get(role))) for role in _ROLES if columns.get(role) is not None
    ]
    extra = columns.get("extra")
    if isinstance(extra, Mapping):
        found += [(("extra", key), _text(header)) for key, header in extra.items()]
    return found


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
    """Parse and validate; raise ``WorkflowFileError`` listing every problem, in file order.

    Locations name list items by their key (``steps[book_meeting].due``), workflows by name
    when the file has several, and an item without a key by its position (``steps[#3]``,
    counted from 1).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowFileError([_syntax_problem(exc, text, filename)]) from None
    if node is None or data is None:
        raise WorkflowFileError([ConfigProblem(filename, 1, "", "the file is empty")])
    lines: dict[Loc, int] = {}
    _index_lines(node, (), lines)
    found: list[tuple[Loc, str]] = []
    result: WorkflowFile | None = None
    try:
        result = WorkflowFile.model_validate(data, context={_CROSS_CHECKED: True})
    except ValidationError as exc:
        found = _schema_problems(exc)
    found += _file_cross_problems(data)
    if not found and result is not None:
        return result
    problems = [
        ConfigProblem(filename, _line_for(loc, lines), _located(loc, data), text)
        for loc, text in found
    ]
    problems.sort(key=lambda p: p.line if p.line is not None else 0)
    raise WorkflowFileError(problems)


def _index_lines(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> None:
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


def _schema_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
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
        elif error["type"] in _PLAIN:
            message = _PLAIN[error["type"]]
        for sub in message.split("\n"):
            field, _, text = sub.partition(": ")
            if text and ("." in field or field.isidentifier()) and " " not in field:
                problems.append(((*loc, *_to_parts(field)), text))
            else:
                problems.append((loc, sub))
    return problems


# Pydantic's words for a value of the wrong shape, in the words of a YAML file.
_PLAIN = {
    "tuple_type": "should be a list: one item per line, each starting with '- '",
    "list_type": "should be a list: one item per line, each starting with '- '",
    "dict_type": "should be a mapping: indented 'key: value' lines",
    "model_type": "should be a mapping: indented 'key: value' lines",
    "model_attributes_type": "should be a mapping: indented 'key: value' lines",
    "string_type": "should be text",
}


def _to_parts(field: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in field.split(".")]


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def _located(loc: Loc, data: Any) -> str:
    """``workflows.0.steps.1.due`` -> ``steps[book_meeting].due`` (see ``parse_workflows``)."""
    workflows = data.get("workflows") if isinstance(data, Mapping) else None
    if (
        len(loc) > 2
        and loc[:2] == ("workflows", 0)
        and isinstance(workflows, list)
        and len(workflows) == 1
    ):
        return _located(loc[2:], workflows[0])
    out = ""
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, (list, tuple)) and part < len(node) else None
            name = None
            if isinstance(item, Mapping):
                name = _text(item.get("key")) or _text(item.get("name"))
            out += f"[{name}]" if name else f"[#{part + 1}]"
            node = item
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, Mapping) else None
    return out


def _line_for(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    # The nearest located ancestor: a missing key is reported at its parent's line.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


_INDENT_HINT = (
    "check the indentation of this line and the lines above it: keys of one block start in "
    "the same column, list items (- ...) sit under their key, and indents are spaces"
)


def _syntax_problem(exc: yaml.YAMLError, text: str, filename: str) -> ConfigProblem:
    """A YAML syntax error at its line, with a plain hint for the usual mistakes."""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    mark = problem_mark or context_mark
    if context_mark is not None and "flow" in str(getattr(exc, "context", "")):
        mark = context_mark  # where the unclosed [ or { opened, not where it was noticed
    line = mark.line + 1 if mark is not None else None
    problem = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    hint = _syntax_hint(problem, text.splitlines(), line, context_mark)
    return ConfigProblem(filename, line, "", f"{message}. Hint: {hint}" if hint else message)


def _syntax_hint(problem: str, lines: list[str], line: int | None, context_mark: Any) -> str:
    here = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
    first = context_mark.line + 1 if context_mark is not None else line
    span = lines[(first or 1) - 1 : line] if line is not None else []
    # A comment's quotes and braces are no YAML: they never give a hint.
    span = ["" if source.lstrip().startswith("#") else source for source in span]
    if "\t" in problem or "\\t" in problem or "\t" in here:
        return "this line contains a tab; YAML indents with spaces only: replace the tab by spaces"
    for number, source in enumerate(span, start=first or 1):
        if source.count('"') % 2 == 1:
            return f'the quote (") opened on line {number} is not closed on that line'
    value = here.partition(": ")[2].strip() if ": " in here else ""
    if "mapping values are not allowed" in problem:
        if ": " in value or value.endswith(":"):
            return (
                "a value that contains a colon must be in quotes, "
                f'e.g. {here.partition(": ")[0].strip()}: "{value}"'
            )
        return _INDENT_HINT
    for source in span:
        rest = source.partition(": ")[2].strip()
        if rest.startswith("{") and not rest.endswith("}"):
            return (
                "a value that starts with { is read as a mapping: put the whole value in "
                f'quotes, e.g. {source.partition(": ")[0].strip()}: "{rest}"'
            )
    if "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        return (
            "the [ ... ] list or { ... } mapping that starts on this line is not closed, "
            "or an item in it needs quotes"
        )
    if any(
        sign in problem
        for sign in ("expected <block end>", "did not find expected key", "expected '-'")
    ):
        return _INDENT_HINT
    return ""


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
