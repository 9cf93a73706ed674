"""``sheet_rows.RowDecoder``: a ``values.get`` answer's rows decoded only where their JSON
text changed, each exactly as ``json.loads`` reads it (values and types), an unchanged
row being the very same tuple as in the last answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journey_sync.adapters.sheet_rows import RowDecoder
from journey_sync.errors import ApiError

cells = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", "1", " 1", "TRUE", "é", "\\", '"', "},{", "],["]),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.sampled_from([0, 1, 1.0, 0.0, -0.0, True, False, 45000, 45000.5]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
rows = st.lists(st.lists(cells, max_size=5), max_size=6)
formats = st.sampled_from(
    [
        {},
        {"indent": 2},  # as Google answers (pretty-printed)
        {"separators": (",", ":")},
        {"ensure_ascii": False},
    ]
)


def answer(values: list[list[Any]] | None, style: dict[str, Any], extra: bool = True) -> bytes:
    body: dict[str, Any] = {"range": "Leads!A1:Z1000", "majorDimension": "ROWS"}
    if values is not None:
        body["values"] = values
    if extra:
        body["somethingNew"] = {"nested": [1, {"values": "not these"}]}
    return json.dumps(body, **style).encode()


def exactly(rows: Any) -> list[list[tuple[str, str]]]:
    """Rows as (type, repr) of each cell: ``1``, ``1.0``, ``True`` and ``-0.0`` all differ."""
    return [[(type(c).__name__, repr(c)) for c in row] for row in rows]


@settings(max_examples=300, deadline=None)
@given(
    reads=st.lists(st.tuples(rows, formats), min_size=1, max_size=4),
    keep=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_every_answer_reads_as_json_reads_it_and_unchanged_rows_are_the_same_tuples(
    reads: list[tuple[list[list[Any]], dict[str, Any]]], keep: list[bool]
) -> None:
    decoder = RowDecoder()
    last_values: list[list[Any]] = []
    last_rows: tuple[tuple[Any, ...], ...] = ()
    last_style: dict[str, Any] | None = None
    for values, style in reads:
        # Some rows carried over unchanged from the last answer, the way a sheet mostly is.
        values = [
            last_values[i] if i < len(last_values) and keep[i % len(keep)] else row
            for i, row in enumerate(values)
        ]
        echoed, got = decoder.decode(answer(values, style))
        assert echoed == "Leads!A1:Z1000"
        assert exactly(got) == exactly(json.loads(answer(values, style))["values"])
        assert all(type(row) is tuple for row in got)
        if style == last_style:
            for i, row in enumerate(values):
                if i < len(last_values) and json.dumps(row, **style) == json.dumps(
                    last_values[i], **style
                ):
                    assert got[i] is last_rows[i]
        last_values, last_rows, last_style = values, got, style


def test_an_unchanged_answer_is_the_last_rows_and_a_changed_row_is_read_again() -> None:
    decoder = RowDecoder()
    style = {"indent": 2}
    _, first = decoder.decode(answer([["Ann", 45000, 1], ["Bo", 45001, 1]], style))
    _, again = decoder.decode(answer([["Ann", 45000, 1], ["Bo", 45001, 1]], style))
    assert again is first
    # 1 typed over by a ticked checkbox: equal in Python, another row in the sheet.
    _, ticked = decoder.decode(answer([["Ann", 45000, 1], ["Bo", 45001, True]], style))
    assert ticked[0] is first[0]
    assert ticked[1] == ("Bo", 45001, True) and type(ticked[1][2]) is bool
    # A row inserted on top moves every row: each is read at its new place.
    _, moved = decoder.decode(
        answer([["Cy", 45002], ["Ann", 45000, 1], ["Bo", 45001, True]], style)
    )
    assert moved == (("Cy", 45002), ("Ann", 45000, 1), ("Bo", 45001, True))


def test_an_empty_sheet_has_no_values_key() -> None:
    assert RowDecoder().decode(answer(None, {"indent": 2})) == ("Leads!A1:Z1000", ())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>captive portal</html>", "not JSON"),
        (b'{"values": [["a"], ', "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"values": "a"}', "without a list of rows"),
        (b'{"values": [["a"], 1]}', "without a list of rows"),
        (b'{"values": [["a"], {"b": 1}]}', "without a list of rows"),
    ],
)
def test_an_answer_that_is_not_rows_is_an_api_error_and_the_next_is_read_afresh(
    body: bytes, message: str
) -> None:
    decoder = RowDecoder()
    _, first = decoder.decode(answer([["Ann", 1]], {}))
    with pytest.raises(ApiError, match=message):
        decoder.decode(body)
    _, after = decoder.decode(answer([["Ann", 1]], {}))
    assert after == first


def test_every_recorded_values_get_body_reads_as_its_recorded_json() -> None:
    """Google's own answers, verbatim (pretty-printed, some without "values")."""
    from support.recordings import RECORDINGS

    bodies = [
        interaction["response"]
        for path in sorted(RECORDINGS.glob("gsheets_values_*.json"))
        for interaction in json.loads(path.read_text("utf-8")).get("interactions", [])
        if interaction["request"]["method"] == "GET"
        and "/values/" in interaction["request"]["uri"]
        and interaction["response"]["status"] == 200
    ]
    assert len(bodies) >= 5
    for response in bodies:
        decoder = RowDecoder()
        body = response["body_raw"].encode()
        echoed, rows = decoder.decode(body)
        expected = response["body_json"]
        assert echoed == expected["range"]
        assert exactly(rows) == exactly(expected.get("values", []))
        assert decoder.decode(body)[1] is rows  # the same answer again: the same rows
