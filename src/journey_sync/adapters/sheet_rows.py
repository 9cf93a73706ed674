"""The rows of a ``values.get`` answer, decoded only where they changed.

A 10,000-lead sheet answers about 2.5 MB of JSON every cycle, nearly all of it as it was
the cycle before. Decoding all of it into Python values (and each row into a tuple) cost a
quiet cycle most of its CPU, and gave ``read_sheet`` 10,000 new rows to compare value by
value, and type by type (``1 == True`` in Python, not in a sheet), with the last read's.

Here the answer is split into each row's JSON text (msgspec, without decoding the values),
and a row whose text is byte for byte the one at the same place in the last answer is the
very same tuple as then; only the other rows are decoded. Equal text is equal values of
equal types, so "the same object" is a safe test of "the same row" for whoever reads the
snapshot (``sheet.RowMemo``). An answer equal to the last one is the last rows as they are.
The price is the last answer's text, kept until the next read (about 2.5 MB at 10,000
leads, less than the type tuples the row memo no longer keeps).

Anything that does not fit (a body that is not an object, ``values`` that is not a list of
lists, text msgspec refuses) is read the lenient way, with ``json``, and judged as before.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from ..errors import ApiError
from ..ports import CellValue
from .sheets_transport import SERVICE

Rows = tuple[tuple[CellValue, ...], ...]


class _Answer(msgspec.Struct):
    """The parts of a ``values.get`` answer read here; any other key is skipped."""

    range: Any = None
    values: list[msgspec.Raw] = []


_ANSWER = msgspec.json.Decoder(_Answer)


class RowDecoder:
    """Decodes successive ``values.get`` answers of one worksheet (see the module)."""

    def __init__(self) -> None:
        self._forget()

    def _forget(self) -> None:
        self._body: bytes | None = None
        self._range: Any = None
        self._texts: list[msgspec.Raw] = []
        self._rows: Rows = ()

    def decode(self, body: bytes) -> tuple[Any, Rows]:
        """The answer's ``range`` and its rows (an empty sheet has no ``values`` at all)."""
        if body == self._body:
            return self._range, self._rows
        try:
            answer = _ANSWER.decode(body)
        except msgspec.DecodeError:
            self._forget()  # the next answer is read afresh
            return _lenient(body)
        texts = answer.values
        before, rows_before = self._texts, self._rows
        same = min(len(texts), len(before))
        rows: list[tuple[CellValue, ...] | None] = [
            rows_before[i] if i < same and texts[i] == before[i] else None
            for i in range(len(texts))
        ]
        changed = [i for i, row in enumerate(rows) if row is None]
        for i, values in zip(changed, _decode_rows([texts[i] for i in changed]), strict=True):
            rows[i] = values
        decoded: Rows = tuple(rows)  # type: ignore[arg-type]  # every None was replaced
        self._body, self._range, self._texts, self._rows = body, answer.range, texts, decoded
        return answer.range, decoded


def _decode_rows(texts: list[msgspec.Raw]) -> list[tuple[CellValue, ...]]:
    if not texts:
        return []
    joined = b"[" + b",".join(texts) + b"]"
    try:
        values = msgspec.json.decode(joined)
    except msgspec.DecodeError:
        # What msgspec refuses and json reads (a lone surrogate in a string, say).
        try:
            values = json.loads(joined)
        except ValueError:
            raise _no_rows() from None
    if not all(isinstance(row, list) for row in values):
        raise _no_rows()
    return [tuple(row) for row in values]


def _lenient(body: bytes) -> tuple[Any, Rows]:
    try:
        answer = json.loads(body)
    except ValueError:
        raise ApiError(
            SERVICE, 200, "answered with a body that is not JSON: is the API URL right?"
        ) from None
    if not isinstance(answer, dict):
        raise ApiError(SERVICE, 200, "values.get answered with something that is not an object")
    values = answer.get("values", [])
    if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
        raise _no_rows()
    return answer.get("range"), tuple(tuple(row) for row in values)


def _no_rows() -> ApiError:
    return ApiError(SERVICE, 200, "values.get answered without a list of rows")
