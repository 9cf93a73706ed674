"""The /sync answer split while it streams in (``adapters/sync_stream.py``): whatever the
chunking, key order, formatting or item text, the windows hold exactly the answer's
items, in order, and ``rest`` is the answer with an empty item list."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journey_sync.adapters.sync_stream import MalformedAnswer, SyncSplitter

# Text that looks like JSON's own structure, so a cut inside a string is tried.
TRICKY = st.sampled_from(["}", "},{", '"},{"', "\\", '\\"', "]", "[{", "}]", ",", "é", "\n"])
TEXT = st.lists(st.one_of(TRICKY, st.text(max_size=5)), max_size=6).map("".join)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), TEXT)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
ITEM = st.one_of(
    st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=8), "description": TEXT},
        optional={
            "due": st.one_of(st.none(), st.fixed_dictionaries({"date": TEXT})),
            "nested": VALUE,
            "items": VALUE,
        },
    ),
    SCALAR,  # a list element that is not an object: passed on as it is
)
OTHERS = st.dictionaries(
    st.sampled_from(["sync_token", "full_sync", "projects", "collaborators", "user", "x"]),
    VALUE,
    max_size=4,
)


def split(body: bytes, cuts: list[int], window: int) -> tuple[list[Any], Any]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    splitter = SyncSplitter(iter(chunks), window=window)
    items = [msgspec.json.decode(raw) for window_ in splitter.windows() for raw in window_]
    return items, msgspec.json.decode(splitter.rest)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(ITEM, max_size=12),
    others=OTHERS,
    position=st.integers(min_value=0, max_value=6),
    indent=st.sampled_from([None, 0, 2]),
    cuts=st.lists(st.integers(min_value=0), max_size=12),
    window=st.sampled_from([1, 16, 200, 1 << 20]),
)
def test_the_windows_hold_every_item_and_the_rest_everything_else(
    items: list[Any],
    others: dict[str, Any],
    position: int,
    indent: int | None,
    cuts: list[int],
    window: int,
) -> None:
    keys = list(others)
    keys.insert(min(position, len(keys)), "items")
    answer = {k: items if k == "items" else others[k] for k in keys}
    separators = (",", ":") if indent is None else (", ", ": ")
    body = json.dumps(answer, indent=indent, separators=separators, ensure_ascii=False).encode()
    got_items, rest = split(body, cuts, window)
    assert got_items == items
    assert rest == {**answer, "items": []}


def test_an_answer_without_items_is_all_rest() -> None:
    body = b'{"sync_token": "t", "full_sync": false, "projects": [{"id": "1"}]}'
    assert split(body, [3, 40], 16) == ([], json.loads(body))


def test_a_value_items_is_not_taken_for_the_key() -> None:
    body = b'{"a": "items", "b": ["items", {"items": [1]}], "items": [{"id": "x"}]}'
    got, rest = split(body, [5, 9, 30], 8)
    assert got == [{"id": "x"}]
    assert rest == {"a": "items", "b": ["items", {"items": [1]}], "items": []}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b"[1, 2]",
        b'{"items": [{"id": "1"}, {"id": "2"',  # cut off mid-answer
        b'{"items": [{"id": "1"}], "sync_token": "t"',
        b'{"items": [{"id": "1"}]} trailing',
        b'{"items": [{"id": 1x}]}',
    ],
)
def test_a_body_that_is_not_one_json_object_is_malformed(body: bytes) -> None:
    splitter = SyncSplitter(iter([body[:7], body[7:]]), window=4)
    with pytest.raises(MalformedAnswer):
        for _ in splitter.windows():
            pass


def test_a_large_list_is_handed_on_in_windows_not_whole() -> None:
    items = [{"id": str(i), "description": "x" * 100} for i in range(2_000)]
    body = json.dumps({"items": items, "sync_token": "t"}).encode()
    chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    splitter = SyncSplitter(iter(chunks), window=16_384)
    sizes = [len(w) for w in splitter.windows()]
    assert sum(sizes) == 2_000
    assert len(sizes) > 10 and max(sizes) < 200
    assert msgspec.json.decode(splitter.rest) == {"items": [], "sync_token": "t"}
