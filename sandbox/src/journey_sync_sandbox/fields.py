"""Google field masks: ``fields=sheets(properties(sheetId,title),conditionalFormats)``.

The same syntax selects parts of a response (the ``fields`` system parameter) and
names the cell fields an ``updateCells``/``repeatCell`` request writes. Paths may use
``.`` or ``/`` (both appear in the recordings: ``sheets.data.rowData.values.note`` and
``sheets/data/rowData/values/note``), ``a(b,c)`` groups sub-paths and ``*`` selects
everything.
"""

from __future__ import annotations

from typing import Any

Mask = dict[str, "Mask | None"]  # None: the whole value under this key


class MaskError(ValueError):
    pass


def parse_mask(text: str) -> Mask | None:
    """The mask as a tree; ``None`` when it selects everything (``*`` or empty)."""
    text = text.strip()
    if not text or text == "*":
        return None
    mask, rest = _parse_list(text.replace("/", "."), 0)
    if rest != len(text):
        raise MaskError(text)
    return mask


def _parse_list(text: str, pos: int) -> tuple[Mask, int]:
    mask: Mask = {}
    while pos < len(text):
        pos = _parse_path(text, pos, mask)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return mask, pos


def _parse_path(text: str, pos: int, into: Mask) -> int:
    start = pos
    while pos < len(text) and text[pos] not in ",().":
        pos += 1
    name = text[start:pos].strip()
    if not name:
        raise MaskError(text)
    if name == "*":
        into.clear()
        into["*"] = None
        return pos
    if pos < len(text) and text[pos] == ".":
        child = _child(into, name)
        return _parse_path(text, pos + 1, child)
    if pos < len(text) and text[pos] == "(":
        sub, pos = _parse_list(text, pos + 1)
        if pos >= len(text) or text[pos] != ")":
            raise MaskError(text)
        child = _child(into, name)
        _merge(child, sub)
        return pos + 1
    into[name] = None
    return pos


def _child(into: Mask, name: str) -> Mask:
    existing = into.get(name, {})
    if existing is None:  # already selected whole
        return {}
    into[name] = existing
    return existing


def _merge(into: Mask, other: Mask) -> None:
    for key, value in other.items():
        if value is None or into.get(key, {}) is None:
            into[key] = None
        else:
            child = _child(into, key)
            _merge(child, value)


def apply_mask(data: Any, mask: Mask | None) -> Any:
    """Keep only the selected paths; lists are filtered element by element."""
    if mask is None or "*" in mask:
        return data
    if isinstance(data, list):
        return [apply_mask(item, mask) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, sub in mask.items():
        if key in data:
            out[key] = apply_mask(data[key], sub)
    return out
