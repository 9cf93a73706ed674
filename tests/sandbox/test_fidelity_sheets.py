"""Replay the LIVE Google Sheets recordings against the sandbox.

Every interaction of ``tests/recordings/gsheets_*.json`` is sent, in the
cassette's order, to a fresh sandbox spreadsheet with the recorded id, and the
answer must equal the recorded one: status and the whole JSON body (keys, value
types, echoed range forms and values). The only things rewritten are what the state
cannot determine: sheet ids Google picks at random for ``addSheet`` (mapped to the
sandbox's), and the legacy ``errors`` array of the 2018 capture (current Google
errors dropped it, as that recording's notes say).

State a cassette implies but did not record (the grid resized in interactions the
recording left out, data written by another test) is set up by ``SETUP``.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.sheets import Spreadsheet
from support.recordings import RECORDINGS

Interaction = dict[str, Any]


def _cassettes() -> dict[str, list[Interaction]]:
    grouped: dict[str, list[Interaction]] = {}
    for path in sorted(RECORDINGS.glob("gsheets_*.json")):
        for interaction in json.loads(path.read_text("utf-8"))["interactions"]:
            name = interaction.get("cassette") or path.stem
            grouped.setdefault(name, []).append(interaction)
    for interactions in grouped.values():
        interactions.sort(key=lambda i: i.get("interaction_index") or 0)
    return grouped


CASSETTES = _cassettes()


def _render_options_data(book: Spreadsheet) -> None:
    # test_get_all_records_value_render_options reads data written the same way as in
    # test_get_all_values_date_time_render_options (a 2x4 grid, USER_ENTERED).
    sheet = book.worksheet()
    sheet.resize(2, 4)
    sheet.write_rows(
        0, 0, [["=4/2", "2020-01-01", "string", 53], ["=3/2", 0.12, "1999-01-02", ""]],
        "USER_ENTERED",
    )  # fmt: skip


def _resize_4x4(book: Spreadsheet) -> None:
    book.worksheet().resize(4, 4)


# cassette -> {interaction index to run before: setup}
SETUP: dict[str, dict[int, Callable[[Spreadsheet], None]]] = {
    "WorksheetTest.test_get_all_records_value_render_options.json": {7: _render_options_data},
    # Interactions 8-10 (not recorded) resized the renamed sheet to 4x4: 'D3' echoes A1:D4.
    "WorksheetTest.test_get_all_values_title_is_a1_notation.json": {11: _resize_4x4},
}
NOT_SHARED = {"ClientTest.test_access_private_spreadsheet.json"}
NOT_CREATED = {"ClientTest.test_access_non_existing_spreadsheet.json"}


def _spreadsheet_id(uri: str) -> str:
    return urlsplit(uri).path.split("/")[3].split(":")[0]


def _title(interactions: list[Interaction]) -> str:
    for interaction in interactions:
        body = interaction["response"].get("body_json")
        if isinstance(body, dict) and "title" in body.get("properties", {}):
            return str(body["properties"]["title"])
    return "Untitled spreadsheet"


def _map_sheet_ids(data: Any, ids: dict[int, int]) -> Any:
    if isinstance(data, dict):
        return {
            k: (ids.get(v, v) if k == "sheetId" else _map_sheet_ids(v, ids))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_map_sheet_ids(v, ids) for v in data]
    return data


def _send(sandbox: Sandbox, method: str, target: str, body: bytes, token: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    if body:
        headers["Content-Type"] = "application/json"
    connection.request(method, target, body=body or None, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    assert response.getheader("Content-Type") == "application/json; charset=UTF-8"
    return response.status, json.loads(raw) if raw else None


@pytest.mark.parametrize("cassette", sorted(CASSETTES))
def test_replays_recorded_sheets_traffic(sandbox: Sandbox, cassette: str) -> None:
    interactions = CASSETTES[cassette]
    book_id = _spreadsheet_id(interactions[0]["request"]["uri"])
    if cassette not in NOT_CREATED:
        sandbox.create_spreadsheet(
            _title(interactions), spreadsheet_id=book_id, shared=cassette not in NOT_SHARED
        )
    token = sandbox.access_token()
    sheet_ids: dict[int, int] = {}
    for interaction in interactions:
        for before, setup in SETUP.get(cassette, {}).items():
            if interaction.get("interaction_index") == before:
                setup(sandbox.sheets.spreadsheets[book_id])
        request, recorded = interaction["request"], interaction["response"]
        parts = urlsplit(request["uri"])
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = b""
        if request.get("body_raw"):
            sent = _map_sheet_ids(json.loads(request["body_raw"]), sheet_ids)
            body = json.dumps(sent).encode("utf-8")
        status, answer = _send(sandbox, request["method"], target, body, token)
        where = f"{cassette}#{interaction.get('interaction_index')} {request['method']} {target}"
        assert status == recorded["status"], f"{where}: {answer}"
        expected = recorded["body_json"]
        for recorded_reply, reply in zip(
            expected.get("replies", []), answer.get("replies", []), strict=False
        ):
            if "addSheet" in recorded_reply:
                old = recorded_reply["addSheet"]["properties"]["sheetId"]
                sheet_ids[old] = reply["addSheet"]["properties"]["sheetId"]
        expected = _map_sheet_ids(expected, sheet_ids)
        if "errors" in expected.get("error", {}):
            del expected["error"]["errors"]  # 2018-era field, gone from current errors
        assert answer == expected, where


def test_every_recording_is_replayed() -> None:
    """The replay covers all 18 recorded Sheets files (nothing silently skipped)."""
    files = sorted(p.stem for p in RECORDINGS.glob("gsheets_*.json"))
    assert len(files) == 18
    replayed = sum(len(v) for v in CASSETTES.values())
    recorded = sum(
        len(json.loads((RECORDINGS / f"{f}.json").read_text("utf-8"))["interactions"])
        for f in files
    )
    assert replayed == recorded
