"""GoogleSheetsGateway against mocked Google endpoints (``responses``; gspread uses requests).

Every answer has the shape of recorded live traffic (see sheets_payloads.py). The token
endpoint is mocked too: the gateway goes through the real google-auth service account
flow (a JWT signed with a throwaway RSA key, exchanged for "ya29.test").
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from journey_sync.adapters.google_sheets import METADATA_FIELDS, GoogleSheetsGateway, SheetsStats
from journey_sync.adapters.retry import RetryPolicy, RetryStats
from journey_sync.adapters.sheets_transport import fetch_token, load_service_account
from journey_sync.errors import (
    AccessError,
    ApiError,
    ServiceError,
    SettingsError,
    SheetLayoutError,
    UserError,
)
from journey_sync.ports import (
    CellNote,
    CellWrite,
    ColourRule,
    FormulaWrite,
    RowInsert,
    SheetSnapshot,
    SheetWrites,
)
from journey_sync.settings import load_settings
from journey_sync.wiring import sheet_gateway, task_gateway
from journey_sync.workflow import load_workflows

try:  # tests/adapters as a package, or as a plain directory on sys.path (pytest's default)
    from . import sheets_payloads as P
except ImportError:
    import sheets_payloads as P  # type: ignore[no-redef]

TOKEN_URI = "https://oauth2.example.test/token"
GOOGLE = "https://sheets.googleapis.com"
ID = P.SPREADSHEET_ID
EMAIL = P.SERVICE_ACCOUNT_EMAIL

DEPARTED = ColourRule(
    name="departed",
    formula='=$S2<>""',
    first_row=2,
    last_column=20,
    red=0.96,
    green=0.8,
    blue=0.8,
)
PAID = ColourRule(
    name="paid",
    formula='=AND($S2="",$K2=1)',
    first_row=2,
    last_column=20,
    red=0.85,
    green=0.92,
    blue=0.83,
)


def spreadsheet_url(base: str = GOOGLE) -> str:
    return f"{base}/v4/spreadsheets/{ID}"


def values_url(title: str = "Leads", base: str = GOOGLE) -> str:
    quoted = "'" + title.replace("'", "''") + "'"
    return f"{spreadsheet_url(base)}/values/{requests.utils.quote(quoted, safe='')}"


BATCH_URL = f"{spreadsheet_url()}:batchUpdate"
VALUES_BATCH_URL = f"{spreadsheet_url()}/values:batchUpdate"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_info(private_key_pem: str) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "studio-123456",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key_pem,
        "client_email": EMAIL,
        "client_id": "112233445566778899000",
        "auth_uri": "https://accounts.example.test/o/oauth2/auth",
        "token_uri": TOKEN_URI,
    }


@pytest.fixture
def key_file(tmp_path: Path, private_key_pem: str) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(service_account_info(private_key_pem)))
    return path


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URI, json=P.TOKEN_OK)
        yield rsps


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def gateway(key_file: Path, sleeps: list[float]) -> GoogleSheetsGateway:
    return make_gateway(key_file, sleeps)


def make_gateway(key_file: Path, sleeps: list[float], **kwargs: Any) -> GoogleSheetsGateway:
    kwargs.setdefault("spreadsheet", ID)
    kwargs.setdefault("worksheet", "Leads")
    kwargs.setdefault("retry", RetryPolicy(sleep=sleeps.append, rng=random.Random(7)))
    return GoogleSheetsGateway(credentials_file=key_file, **kwargs)


def sheet_calls(api: responses.RequestsMock, base: str = GOOGLE) -> list[Any]:
    return [c for c in api.calls if c.request.url.startswith(base)]


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def leads_metadata(
    rules: list[dict[str, Any]] | None = None, rows: int = 1000, columns: int = 26
) -> dict[str, Any]:
    return P.metadata(
        P.sheet("Overview", 0), P.sheet("Leads", 1234567, rows=rows, columns=columns, rules=rules)
    )


def mock_metadata(api: responses.RequestsMock, payload: dict[str, Any] | None = None) -> None:
    api.get(spreadsheet_url(), json=payload if payload is not None else leads_metadata())


def mock_read(
    api: responses.RequestsMock,
    values: list[list[Any]] | None = P.SPARSE_VALUES,
    echoed: str = "Leads!A1:Z1000",
) -> None:
    api.get(values_url(), json=P.value_range(echoed, values))


# ------------------------------------------------------------------- 2. read()


def test_read_returns_sparse_rows_exactly_as_recorded(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    mock_read(api, P.SPARSE_VALUES)

    snapshot = gateway.read()

    assert snapshot == SheetSnapshot(
        title="Leads",
        rows=(("A1", "B1", "", "D1"), ("", "b2"), (), ("A4", "B4", "", "D4")),
    )
    assert snapshot.cell(2, 2) == "b2"
    assert snapshot.cell(2, 4) is None  # trailing cell omitted by Google
    assert snapshot.cell(3, 1) is None  # empty middle row


def test_read_asks_for_unformatted_values_and_serial_dates(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    mock_read(api, P.UNFORMATTED_VALUES)

    snapshot = gateway.read()

    assert snapshot.rows == ((2, 43831, "string", 53), (1.5, 0.12, 36162))
    read_call = sheet_calls(api)[-1]
    assert urlsplit(read_call.request.url).path.endswith("/values/%27Leads%27")
    assert query(read_call) == {
        "valueRenderOption": ["UNFORMATTED_VALUE"],
        "dateTimeRenderOption": ["SERIAL_NUMBER"],
        "majorDimension": ["ROWS"],
    }


def test_read_of_an_empty_sheet_without_values_key(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    mock_read(api, None)  # {"range": ..., "majorDimension": "ROWS"}, no "values"

    assert gateway.read() == SheetSnapshot(title="Leads", rows=())


def test_a_row_unchanged_since_the_last_read_is_the_same_tuple_and_a_changed_one_is_new(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    # What sheet.RowMemo relies on to skip comparing 10,000 rows value by value.
    mock_metadata(api)
    mock_read(api, [["Client name", "Lead ID"], ["Ann", "L-1"], ["Bo", 1]])
    mock_read(api, [["Client name", "Lead ID"], ["Ann", "L-1"], ["Bo", True]])
    first, second = gateway.read(), gateway.read()
    assert second.rows[0] is first.rows[0] and second.rows[1] is first.rows[1]
    assert second.rows[2] == ("Bo", True) and type(second.rows[2][1]) is bool
    assert first.rows[2] == ("Bo", 1) and type(first.rows[2][1]) is int


def test_metadata_is_one_masked_spreadsheets_get(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    mock_read(api)

    gateway.read()

    metadata_call = sheet_calls(api)[0]
    assert urlsplit(metadata_call.request.url).path == f"/v4/spreadsheets/{ID}"
    assert query(metadata_call) == {"fields": [METADATA_FIELDS]}
    assert "sheets(properties(sheetId,title" in METADATA_FIELDS
    assert "conditionalFormats" in METADATA_FIELDS


def test_worksheet_title_with_a_quote_is_escaped_in_a1(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    gateway = make_gateway(key_file, sleeps, worksheet="Lead's")
    mock_metadata(api, P.metadata(P.sheet("Lead's", 5)))
    api.get(values_url("Lead's"), json=P.value_range("'Lead''s'!A1:Z1000", [["x"]]))
    api.post(VALUES_BATCH_URL, json=P.values_batch_update_reply(["'Lead''s'!A2"]))

    assert gateway.read().rows == (("x",),)
    gateway.apply(SheetWrites(values=(CellWrite(2, 1, "y"),)))

    assert unquote(urlsplit(sheet_calls(api)[1].request.url).path).endswith("/values/'Lead''s'")
    assert body(sheet_calls(api)[2])["data"][0]["range"] == "'Lead''s'!A2"


# ----------------------------------------------------------- no-change cycle cost


def test_no_change_cycle_is_one_read_and_zero_writes(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    stats = SheetsStats()
    gateway = make_gateway(key_file, sleeps, stats=stats)
    mock_metadata(
        api,
        leads_metadata(
            rules=[P.custom_formula_rule(DEPARTED.formula), P.custom_formula_rule(PAID.formula)]
        ),
    )
    mock_read(api)

    gateway.read()  # first cycle: metadata + values.get
    assert len(sheet_calls(api)) == 2

    gateway.read()
    gateway.apply(SheetWrites())
    gateway.apply(SheetWrites(colour_rules=(DEPARTED, PAID)))  # already on the sheet

    calls = sheet_calls(api)
    assert len(calls) == 3
    assert calls[2].request.method == "GET" and "/values/" in calls[2].request.url
    assert (stats.reads, stats.writes, stats.requests, stats.retries) == (3, 0, 3, 0)


def test_apply_of_nothing_makes_no_request_at_all(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    gateway.apply(SheetWrites())
    assert len(api.calls) == 0  # not even a token


# --------------------------------------------------------------------- 3. apply()


def test_full_write_is_one_batch_update_then_one_values_batch_update(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    stats = SheetsStats()
    gateway = make_gateway(key_file, sleeps, stats=stats)
    mock_metadata(api)
    mock_read(api)
    api.post(BATCH_URL, json=P.batch_update_reply(6))
    api.post(
        VALUES_BATCH_URL,
        json=P.values_batch_update_reply(
            ["Leads!K7", "Leads!T7", "Leads!S8", "Leads!K9", "Leads!B10"]
        ),
    )
    gateway.read()

    gateway.apply(
        SheetWrites(
            inserts=(RowInsert(before_row=12, count=2),),
            values=(
                CellWrite(7, 11, 1),
                CellWrite(7, 20, "L-0007"),
                CellWrite(8, 19, 46349, as_date=True),
                CellWrite(9, 11, None),
                CellWrite(10, 2, "=1+1"),  # text typed by a person: stays text
            ),
            formulas=(FormulaWrite(14, 11, "=SUM(K2:K11)"),),
            notes=(CellNote(5, 2, "Unreadable lead date: '31/02/2025'"),),
            colour_rules=(DEPARTED, PAID),
        )
    )

    writes = sheet_calls(api)[2:]
    assert [(c.request.method, urlsplit(c.request.url).path) for c in writes] == [
        ("POST", f"/v4/spreadsheets/{ID}:batchUpdate"),
        ("POST", f"/v4/spreadsheets/{ID}/values:batchUpdate"),
    ]
    sid = 1234567
    assert body(writes[0]) == {
        "requests": [
            {
                "insertDimension": {
                    "range": {
                        "sheetId": sid,
                        "dimension": "ROWS",
                        "startIndex": 11,
                        "endIndex": 13,
                    },
                    "inheritFromBefore": False,
                }
            },
            {
                "updateCells": {
                    "range": {
                        "sheetId": sid,
                        "startRowIndex": 13,
                        "endRowIndex": 14,
                        "startColumnIndex": 10,
                        "endColumnIndex": 11,
                    },
                    "rows": [{"values": [{"userEnteredValue": {"formulaValue": "=SUM(K2:K11)"}}]}],
                    "fields": "userEnteredValue",
                }
            },
            {
                "updateCells": {
                    "range": {
                        "sheetId": sid,
                        "startRowIndex": 4,
                        "endRowIndex": 5,
                        "startColumnIndex": 1,
                        "endColumnIndex": 2,
                    },
                    "rows": [{"values": [{"note": "Unreadable lead date: '31/02/2025'"}]}],
                    "fields": "note",
                }
            },
            {
                "repeatCell": {
                    "range": {
                        "sheetId": sid,
                        "startRowIndex": 7,
                        "endRowIndex": 8,
                        "startColumnIndex": 18,
                        "endColumnIndex": 19,
                    },
                    "cell": {
                        "userEnteredFormat": {
                            "numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}
                        }
                    },
                    "fields": "userEnteredFormat.numberFormat",
                }
            },
            {
                "addConditionalFormatRule": {
                    "rule": {
                        "ranges": [
                            {
                                "sheetId": sid,
                                "startRowIndex": 1,
                                "startColumnIndex": 0,
                                "endColumnIndex": 20,
                            }
                        ],
                        "booleanRule": {
                            "condition": {
                                "type": "CUSTOM_FORMULA",
                                "values": [{"userEnteredValue": '=$S2<>""'}],
                            },
                            "format": {"backgroundColor": {"red": 0.96, "green": 0.8, "blue": 0.8}},
                        },
                    },
                    "index": 0,
                }
            },
            {
                "addConditionalFormatRule": {
                    "rule": {
                        "ranges": [
                            {
                                "sheetId": sid,
                                "startRowIndex": 1,
                                "startColumnIndex": 0,
                                "endColumnIndex": 20,
                            }
                        ],
                        "booleanRule": {
                            "condition": {
                                "type": "CUSTOM_FORMULA",
                                "values": [{"userEnteredValue": '=AND($S2="",$K2=1)'}],
                            },
                            "format": {
                                "backgroundColor": {"red": 0.85, "green": 0.92, "blue": 0.83}
                            },
                        },
                    },
                    "index": 1,
                }
            },
        ]
    }
    assert body(writes[1]) == {
        "valueInputOption": "RAW",
        "data": [
            {"range": "'Leads'!K7", "values": [[1]]},
            {"range": "'Leads'!T7", "values": [["L-0007"]]},
            {"range": "'Leads'!S8", "values": [[46349]]},
            {"range": "'Leads'!K9", "values": [[""]]},
            {"range": "'Leads'!B10", "values": [["=1+1"]]},
        ],
    }
    assert (stats.reads, stats.writes) == (2, 2)


def test_values_only_write_is_a_single_values_batch_update(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    mock_read(api)
    api.post(VALUES_BATCH_URL, json=P.values_batch_update_reply(["Leads!K7"]))
    gateway.read()

    gateway.apply(SheetWrites(values=(CellWrite(7, 11, 1),), colour_rules=()))

    writes = sheet_calls(api)[2:]
    assert len(writes) == 1
    assert writes[0].request.url == VALUES_BATCH_URL
    assert body(writes[0]) == {
        "valueInputOption": "RAW",
        "data": [{"range": "'Leads'!K7", "values": [[1]]}],
    }


def test_values_with_inserts_are_written_in_the_same_batch_update(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    # The intake's new rows: inserted and written in one atomic request, so a row a
    # person moves meanwhile can never be under the values (a values.batchUpdate sent
    # after the insert could land on it).
    mock_metadata(api)
    mock_read(api)
    api.post(BATCH_URL, json=P.batch_update_reply(5))
    gateway.read()

    gateway.apply(
        SheetWrites(
            inserts=(RowInsert(before_row=12, count=1),),
            values=(
                CellWrite(12, 20, "L-0012"),
                CellWrite(12, 2, "=cmd|' /C calc'!A0"),  # a form's text stays text
                CellWrite(12, 3, 46349, as_date=True),
                CellWrite(12, 4, None),
            ),
            values_with_inserts=True,
        )
    )

    writes = sheet_calls(api)[2:]
    assert len(writes) == 1 and writes[0].request.url.startswith(BATCH_URL)
    requests_ = body(writes[0])["requests"]
    assert requests_[0]["insertDimension"]["range"]["startIndex"] == 11
    values = [r["updateCells"] for r in requests_ if "updateCells" in r]
    assert [(v["range"]["startRowIndex"], v["range"]["startColumnIndex"]) for v in values] == [
        (11, 19),
        (11, 1),
        (11, 2),
        (11, 3),
    ]
    assert [v["rows"][0]["values"][0] for v in values] == [
        {"userEnteredValue": {"stringValue": "L-0012"}},
        {"userEnteredValue": {"stringValue": "=cmd|' /C calc'!A0"}},
        {"userEnteredValue": {"numberValue": 46349}},
        {},
    ]
    assert all(v["fields"] == "userEnteredValue" for v in values)
    assert any("repeatCell" in r for r in requests_)  # the date's number format


def test_colour_rules_already_on_the_sheet_are_not_added_again(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    # The sheet has a person's own rule, then our "departed" rule; "paid" is missing.
    mock_metadata(
        api,
        leads_metadata(
            rules=[
                P.number_rule(1234567),
                P.custom_formula_rule(DEPARTED.formula, sheet_id=1234567),
            ]
        ),
    )
    api.post(BATCH_URL, json=P.batch_update_reply(1))

    gateway.apply(SheetWrites(colour_rules=(DEPARTED, PAID)))

    (batch,) = [c for c in sheet_calls(api) if c.request.method == "POST"]
    (request,) = body(batch)["requests"]
    added = request["addConditionalFormatRule"]
    assert added["rule"]["booleanRule"]["condition"]["values"] == [
        {"userEnteredValue": PAID.formula}
    ]
    assert added["index"] == 2  # right after "departed": red keeps priority over green


def test_an_outdated_rule_of_ours_is_deleted_and_the_wanted_one_added(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    # paid_stage moved from column K to L: our old green rule (K) goes, a person's rule
    # stays, the new one (L) comes, in one batchUpdate.
    old_paid = '=AND($A2<>"",$B2<>"",OR($K2=1,$K2=TRUE))'
    new_paid = replace(PAID, formula='=AND($A2<>"",$B2<>"",OR($L2=1,$L2=TRUE))')
    mock_metadata(
        api,
        leads_metadata(
            rules=[
                P.custom_formula_rule(old_paid, sheet_id=1234567),
                P.custom_formula_rule('=$K2="VIP"', sheet_id=1234567),
            ]
        ),
    )
    api.post(BATCH_URL, json=P.batch_update_reply(2))

    writes = SheetWrites(colour_rules=(new_paid,), retired_rules=(old_paid,))
    gateway.apply(writes)
    gateway.apply(writes)

    (batch,) = [c for c in sheet_calls(api) if c.request.method == "POST"]
    deleted, added = body(batch)["requests"]
    assert deleted == {"deleteConditionalFormatRule": {"sheetId": 1234567, "index": 0}}
    rule = added["addConditionalFormatRule"]
    assert rule["rule"]["booleanRule"]["condition"]["values"] == [
        {"userEnteredValue": new_paid.formula}
    ]


def test_a_rule_of_ours_broken_to_ref_or_moved_down_a_row_is_replaced(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    departed = replace(DEPARTED, formula='=AND($A2<>"",$B2<>"",$Q2<>"")')
    paid = replace(PAID, formula='=AND($A2<>"",$B2<>"",OR($K2=1,$K2=TRUE))')
    mock_metadata(
        api,
        leads_metadata(
            rules=[
                # the first lead row deleted under our red rule: #REF! in its place
                P.custom_formula_rule('=AND(#REF!<>"",$B2<>"",$Q2<>"")', sheet_id=1234567),
                # a row inserted under the header: our green rule moved down a row
                P.custom_formula_rule('=AND($A3<>"",$B3<>"",OR($K3=1,$K3=TRUE))', sheet_id=1234567),
                # a person's own rules, broken or not: never touched
                P.custom_formula_rule("=#REF!>3", sheet_id=1234567),
                P.custom_formula_rule('=AND($A3<>"",$C3="VIP")', sheet_id=1234567),
            ]
        ),
    )
    api.post(BATCH_URL, json=P.batch_update_reply(4))

    gateway.apply(SheetWrites(colour_rules=(departed, paid)))

    (batch,) = [c for c in sheet_calls(api) if c.request.method == "POST"]
    requests_ = body(batch)["requests"]
    deleted = [
        r["deleteConditionalFormatRule"]["index"]
        for r in requests_
        if "deleteConditionalFormatRule" in r
    ]
    added = [
        r["addConditionalFormatRule"]["rule"]["booleanRule"]["condition"]["values"][0][
            "userEnteredValue"
        ]
        for r in requests_
        if "addConditionalFormatRule" in r
    ]
    assert deleted == [1, 0]  # highest first
    assert added == [departed.formula, paid.formula]


def test_colour_rules_are_never_added_twice_across_cycles(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    api.post(BATCH_URL, json=P.batch_update_reply(2))

    gateway.apply(SheetWrites(colour_rules=(DEPARTED, PAID)))
    gateway.apply(SheetWrites(colour_rules=(DEPARTED, PAID)))
    gateway.apply(SheetWrites(colour_rules=(DEPARTED, PAID)))

    posts = [c for c in sheet_calls(api) if c.request.method == "POST"]
    assert len(posts) == 1
    assert [r["addConditionalFormatRule"]["index"] for r in body(posts[0])["requests"]] == [0, 1]
    assert len(sheet_calls(api)) == 2  # metadata once, one batchUpdate


def test_a_missing_higher_priority_rule_goes_before_the_existing_lower_one(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(
        api,
        leads_metadata(
            rules=[P.number_rule(1234567), P.custom_formula_rule(PAID.formula, sheet_id=1234567)]
        ),
    )
    api.post(BATCH_URL, json=P.batch_update_reply(1))

    gateway.apply(SheetWrites(colour_rules=(DEPARTED, PAID)))

    (batch,) = [c for c in sheet_calls(api) if c.request.method == "POST"]
    assert [r["addConditionalFormatRule"]["index"] for r in body(batch)["requests"]] == [1]


def test_writes_outside_the_grid_grow_it_first(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    # A 10 x 20 grid; Google refuses writes beyond it ("exceeds grid limits").
    mock_metadata(api, leads_metadata(rows=10, columns=20))
    mock_read(api, [["Client name"]], echoed="Leads!A1:T10")
    api.post(BATCH_URL, json=P.batch_update_reply(3))
    api.post(VALUES_BATCH_URL, json=P.values_batch_update_reply(["Leads!V12"]))
    gateway.read()

    gateway.apply(
        SheetWrites(
            values=(CellWrite(12, 22, "x"),),
            formulas=(FormulaWrite(11, 1, "=COUNTA(A2:A9)"),),
        )
    )

    batch = body(sheet_calls(api)[2])["requests"]
    assert batch[:2] == [
        {"appendDimension": {"sheetId": 1234567, "dimension": "ROWS", "length": 2}},
        {"appendDimension": {"sheetId": 1234567, "dimension": "COLUMNS", "length": 2}},
    ]
    assert "updateCells" in batch[2]

    # The grid is now 12 x 22: the same write again needs no growth (and no batchUpdate).
    gateway.apply(SheetWrites(values=(CellWrite(12, 22, "y"),)))
    assert [urlsplit(c.request.url).path for c in sheet_calls(api)[4:]] == [
        f"/v4/spreadsheets/{ID}/values:batchUpdate"
    ]


def test_grid_size_follows_each_read(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    # Metadata says 10 rows, but people added rows since: the read echoes A1:Z1000.
    mock_metadata(api, leads_metadata(rows=10))
    mock_read(api, echoed="Leads!A1:Z1000")
    api.post(VALUES_BATCH_URL, json=P.values_batch_update_reply(["Leads!A500"]))
    gateway.read()

    gateway.apply(SheetWrites(values=(CellWrite(500, 1, "x"),)))

    assert [urlsplit(c.request.url).path for c in sheet_calls(api)[2:]] == [
        f"/v4/spreadsheets/{ID}/values:batchUpdate"
    ]


def test_bad_coordinates_fail_before_any_request(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    with pytest.raises(ValueError, match="1-based"):
        gateway.apply(SheetWrites(values=(CellWrite(0, 1, "x"),)))
    assert len(api.calls) == 0


# ------------------------------------------------- spreadsheet URL, base_url, auth


def test_spreadsheet_given_as_full_url(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    gateway = make_gateway(
        key_file, sleeps, spreadsheet=f"https://docs.google.com/spreadsheets/d/{ID}/edit#gid=0"
    )
    mock_metadata(api)
    mock_read(api)

    gateway.read()

    assert gateway.spreadsheet_id == ID
    assert all(f"/v4/spreadsheets/{ID}" in c.request.url for c in sheet_calls(api))


@pytest.mark.parametrize(
    "spreadsheet", ["https://example.test/not-a-sheet", "my sheet", "1abc?x=1"]
)
def test_a_spreadsheet_that_is_neither_id_nor_url_is_a_user_error(
    key_file: Path, sleeps: list[float], spreadsheet: str
) -> None:
    with pytest.raises(UserError, match=r"workflows\.yaml"):
        make_gateway(key_file, sleeps, spreadsheet=spreadsheet)


def test_base_url_is_honoured_for_every_sheets_request(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    base = "http://127.0.0.1:8765"
    gateway = make_gateway(key_file, sleeps, base_url=base + "/")
    api.get(spreadsheet_url(base), json=leads_metadata())
    api.get(values_url(base=base), json=P.value_range("Leads!A1:Z1000", [["x"]]))
    api.post(f"{spreadsheet_url(base)}:batchUpdate", json=P.batch_update_reply(1))
    api.post(
        f"{spreadsheet_url(base)}/values:batchUpdate",
        json=P.values_batch_update_reply(["Leads!A2"]),
    )

    gateway.read()
    gateway.apply(SheetWrites(values=(CellWrite(2, 1, "y"),), notes=(CellNote(2, 1, "n"),)))

    urls = [c.request.url for c in api.calls]
    assert urls[0] == TOKEN_URI  # the token URI comes from the key file
    assert len(urls) == 5
    assert all(u.startswith(base + "/v4/spreadsheets/") for u in urls[1:])
    assert not any("googleapis.com" in u for u in urls)


def test_requests_carry_the_service_account_token_and_a_timeout(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    mock_read(api)

    gateway.read()
    gateway.read()

    token_calls = [c for c in api.calls if c.request.url == TOKEN_URI]
    assert len(token_calls) == 1  # fetched once, reused for an hour
    grant = parse_qs(token_calls[0].request.body.decode())
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    for call in sheet_calls(api):
        assert call.request.headers["Authorization"] == "Bearer ya29.test"
        assert call.request.req_kwargs["timeout"] == (10.0, 60.0)
    # Nothing else was called (no side lookups at Google's IAM API from google-auth).
    assert len(api.calls) == 1 + len(sheet_calls(api))
    assert gateway.service_account_email == EMAIL


# ------------------------------------------------------------------- 4. errors


def test_403_names_the_service_account_to_share_with(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    api.get(spreadsheet_url(), json=P.ERROR_403, status=403)

    with pytest.raises(AccessError) as caught:
        gateway.read()

    assert str(caught.value) == (
        f"The spreadsheet is not shared with the service account {EMAIL}: open the sheet, "
        "Share, add that e-mail as Editor."
    )
    assert len(sheet_calls(api)) == 1  # not retried


def test_403_for_a_disabled_api_says_to_enable_it(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    api.get(spreadsheet_url(), json=P.ERROR_403_SERVICE_DISABLED, status=403)

    with pytest.raises(AccessError, match="Google Sheets API is not enabled"):
        gateway.read()


def test_404_says_to_check_the_spreadsheet_id(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    api.get(spreadsheet_url(), json=P.ERROR_404, status=404)

    with pytest.raises(AccessError) as caught:
        gateway.read()

    assert str(caught.value) == (
        f"Spreadsheet {ID} not found: check the spreadsheet id/URL in workflows.yaml"
    )


def test_unknown_worksheet_names_the_title_and_the_titles_that_exist(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api, P.METADATA_MULTI_SHEET_HIDDEN)

    with pytest.raises(SheetLayoutError) as caught:
        gateway.read()

    message = str(caught.value)
    assert "'Leads'" in message
    assert "'Sheet1', 'finances', 'gacha'" in message
    assert len(sheet_calls(api)) == 1


def test_worksheet_name_differing_in_case_gets_a_hint(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    gateway = make_gateway(key_file, sleeps, worksheet="leads")
    mock_metadata(api)

    with pytest.raises(SheetLayoutError, match="did you mean 'Leads'"):
        gateway.read()


def test_tab_deleted_after_metadata_was_cached_gives_a_layout_error(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    mock_read(api)
    gateway.read()
    # Someone deletes the tab (another one is left): values.get now fails to parse the range.
    api.replace(responses.GET, values_url(), json=P.ERROR_400_UNABLE_TO_PARSE_RANGE, status=400)
    api.replace(responses.GET, spreadsheet_url(), json=P.metadata(P.sheet("Leads 2024", 7654321)))

    with pytest.raises(SheetLayoutError, match="'Leads 2024'"):
        gateway.read()


def test_a_tab_renamed_while_running_is_followed_in_the_same_read(
    api: responses.RequestsMock,
    key_file: Path,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    remembered: list[int] = []
    gateway = make_gateway(key_file, sleeps, on_sheet_id=remembered.append)
    mock_metadata(api)
    mock_read(api)
    gateway.read()
    assert remembered == [1234567]
    # A person renames the tab: same sheet id, new title; the old range no longer parses.
    api.replace(responses.GET, values_url(), json=P.ERROR_400_UNABLE_TO_PARSE_RANGE, status=400)
    api.replace(
        responses.GET,
        spreadsheet_url(),
        json=P.metadata(P.sheet("Overview", 0), P.sheet("Leads 2026", 1234567)),
    )
    api.get(values_url("Leads 2026"), json=P.value_range("'Leads 2026'!A1:Z1000", P.SPARSE_VALUES))

    snapshot = gateway.read()

    assert snapshot.title == "Leads 2026"
    assert snapshot.cell(2, 2) == "b2"
    assert remembered == [1234567]  # the same tab: nothing new to remember
    assert "renamed to 'Leads 2026'" in caplog.text
    assert "worksheet: 'Leads 2026'" in caplog.text


def test_a_tab_renamed_while_stopped_is_found_by_its_remembered_id(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    gateway = make_gateway(key_file, sleeps, known_sheet_id=1234567)
    mock_metadata(api, P.metadata(P.sheet("Overview", 0), P.sheet("Leads 2026", 1234567)))
    api.get(values_url("Leads 2026"), json=P.value_range("'Leads 2026'!A1:Z1000", P.SPARSE_VALUES))

    assert gateway.read().title == "Leads 2026"


def test_a_tab_with_the_configured_name_wins_over_the_renamed_one(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    # Last year's tab renamed to an archive, a new "Leads" tab made for this year: the
    # name in workflows.yaml says which one holds the leads.
    remembered: list[int] = []
    gateway = make_gateway(key_file, sleeps, known_sheet_id=1234567, on_sheet_id=remembered.append)
    mock_metadata(api, P.metadata(P.sheet("Leads 2025", 1234567), P.sheet("Leads", 99)))
    mock_read(api)

    assert gateway.read().title == "Leads"
    assert remembered == [99]


def test_400_bodies_become_api_errors_with_googles_message(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    mock_metadata(api)
    api.post(BATCH_URL, json=P.ERROR_400_BATCH, status=400)
    api.post(VALUES_BATCH_URL, json=P.ERROR_400_INVALID_VALUES, status=400)

    with pytest.raises(ApiError) as batch_error:
        gateway.apply(SheetWrites(notes=(CellNote(2, 2, "n"),)))
    assert batch_error.value.status == 400
    assert "You can't hide all the sheets" in str(batch_error.value)
    assert "INVALID_ARGUMENT" in str(batch_error.value)
    assert batch_error.value.body == P.ERROR_400_BATCH

    with pytest.raises(ApiError) as values_error:
        gateway.apply(SheetWrites(values=(CellWrite(2, 2, "x"),)))
    assert "Invalid value at 'data.values'" in str(values_error.value)
    assert len([c for c in sheet_calls(api) if c.request.method == "POST"]) == 2  # no retry


def test_a_write_into_a_protected_range_says_how_to_let_journey_sync_write(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    # Google's answer as reported by its users (no recording of it here): a 400 whose
    # message names the protected cell, in the usual error body.
    protected = {
        "error": {
            "code": 400,
            "message": "Invalid data[0]: You are trying to edit a protected cell or object. "
            "Please contact the spreadsheet owner to remove protection if you need to edit.",
            "status": "INVALID_ARGUMENT",
        }
    }
    mock_metadata(api)
    api.post(VALUES_BATCH_URL, json=protected, status=400)

    with pytest.raises(AccessError) as caught:
        gateway.apply(SheetWrites(values=(CellWrite(2, 2, "x"),)))

    assert "protected range" in str(caught.value)
    assert f"add the service account {EMAIL} as an editor of that protection" in str(caught.value)


def test_401_from_sheets_says_the_key_was_refused(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    api.get(spreadsheet_url(), json=P.ERROR_401, status=401)

    with pytest.raises(AccessError) as caught:
        gateway.read()

    message = str(caught.value)
    assert message.startswith(
        "Google refused the service account key (expired, deleted or revoked?)"
    )
    assert "point GOOGLE_APPLICATION_CREDENTIALS at it" in message
    assert EMAIL in message


def test_token_endpoint_refusing_the_key_says_to_create_a_new_one(
    key_file: Path, sleeps: list[float]
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.post(TOKEN_URI, json=P.TOKEN_INVALID_GRANT, status=400)
        gateway = make_gateway(key_file, sleeps)

        with pytest.raises(AccessError) as caught:
            gateway.read()

        message = str(caught.value)
        assert "Google refused the service account key" in message
        assert "invalid_grant: Invalid JWT Signature." in message
        assert "create a new key" in message
        assert sheet_calls(api) == []


def test_non_json_error_body_does_not_crash_the_error_path(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    api.get(
        spreadsheet_url(),
        body="<html><body>Bad Request</body></html>",
        status=400,
        content_type="text/html",
    )

    with pytest.raises(ApiError) as caught:
        gateway.read()

    assert caught.value.status == 400
    assert "not JSON" in str(caught.value)
    assert "text/html" in str(caught.value)


def test_non_json_success_body_is_an_api_error(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    api.get(spreadsheet_url(), body="<html>captive portal</html>", content_type="text/html")

    with pytest.raises(ApiError, match="not JSON"):
        gateway.read()


# ------------------------------------------------------------------ 5. retries


def test_429_honours_retry_after_then_succeeds(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    mock_metadata(api)
    api.get(values_url(), json=P.ERROR_429, status=429, headers={"Retry-After": "7"})
    mock_read(api)

    assert gateway.read().rows[0] == ("A1", "B1", "", "D1")

    assert len(sleeps) == 1
    assert 7.0 <= sleeps[0] <= 7.5
    assert (gateway.stats.requests, gateway.stats.retries) == (3, 1)


def test_429_without_retry_after_backs_off_with_jitter(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    mock_metadata(api)
    api.get(values_url(), json=P.ERROR_429, status=429)
    api.get(values_url(), json=P.ERROR_429, status=429)
    mock_read(api)

    gateway.read()

    assert len(sleeps) == 2
    assert 0 < sleeps[0] <= 1.05  # base 1 s, full jitter
    assert 0 < sleeps[1] <= 2.05


def test_500_then_success(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    api.get(spreadsheet_url(), json=P.ERROR_500, status=500)
    mock_metadata(api)
    mock_read(api)

    gateway.read()

    assert len(sleeps) == 1
    assert gateway.stats.retries == 1


def test_timeout_then_success(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    mock_metadata(api)
    api.get(values_url(), body=requests.exceptions.ReadTimeout("read timed out"))
    mock_read(api)

    assert gateway.read().title == "Leads"
    assert len(sleeps) == 1


def test_connection_error_then_success(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    api.get(spreadsheet_url(), body=requests.exceptions.ConnectionError("connection refused"))
    mock_metadata(api)
    mock_read(api)

    gateway.read()

    assert len(sleeps) == 1


def test_retries_are_bounded_and_end_in_an_api_error_for_the_next_cycle(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    api.get(spreadsheet_url(), json=P.ERROR_503, status=503)

    with pytest.raises(ApiError) as caught:
        gateway.read()

    assert caught.value.status == 503
    assert "the next cycle will retry" in str(caught.value)
    assert len(sheet_calls(api)) == 5
    assert len(sleeps) == 4
    assert (gateway.stats.requests, gateway.stats.retries) == (5, 4)


def test_429_exhausted_mentions_the_quota(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway
) -> None:
    api.get(spreadsheet_url(), json=P.ERROR_429, status=429, headers={"Retry-After": "1"})

    with pytest.raises(ApiError, match=r"rate limit .* the next cycle will retry"):
        gateway.read()


def test_connection_errors_exhausted_end_in_a_service_error(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    api.get(spreadsheet_url(), body=requests.exceptions.ConnectionError("refused"))

    with pytest.raises(ServiceError) as caught:
        gateway.read()

    assert not isinstance(caught.value, ApiError)
    assert "Could not reach Google Sheets" in str(caught.value)
    assert "the next cycle will retry" in str(caught.value)
    assert len(sleeps) == 4


def test_a_timed_out_insert_is_not_resent_and_the_metadata_is_reread(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    # The insert may have reached Google: resending it would insert the rows twice.
    mock_metadata(api)
    mock_read(api)
    api.post(BATCH_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    gateway.read()

    with pytest.raises(ServiceError, match="not resent blindly"):
        gateway.apply(SheetWrites(inserts=(RowInsert(20, 1),)))

    assert len([c for c in sheet_calls(api) if c.request.method == "POST"]) == 1
    assert sleeps == []
    before = len(sheet_calls(api))
    gateway.read()  # next cycle: metadata again, then the values
    assert len(sheet_calls(api)) == before + 2


def test_an_insert_that_never_connected_is_retried(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    mock_metadata(api)
    api.post(BATCH_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    api.post(BATCH_URL, json=P.batch_update_reply(1))

    gateway.apply(SheetWrites(inserts=(RowInsert(20, 1),)))

    assert len(sleeps) == 1


def test_an_insert_answered_with_502_is_not_resent_but_503_is(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    mock_metadata(api)
    api.post(BATCH_URL, json=P.ERROR_503, status=503)
    api.post(BATCH_URL, json=P.batch_update_reply(1))
    gateway.apply(SheetWrites(inserts=(RowInsert(20, 1),)))  # 503: not processed, resent
    assert len(sleeps) == 1

    api.replace(responses.POST, BATCH_URL, body="<html>Bad Gateway</html>", status=502)
    with pytest.raises(ApiError) as caught:
        gateway.apply(SheetWrites(inserts=(RowInsert(20, 1),)))
    assert caught.value.status == 502
    assert len(sleeps) == 1  # no retry for the insert
    posts = [c for c in sheet_calls(api) if c.request.method == "POST"]
    assert len(posts) == 3


def test_a_timed_out_values_write_is_resent(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, sleeps: list[float]
) -> None:
    mock_metadata(api)
    api.post(VALUES_BATCH_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    api.post(VALUES_BATCH_URL, json=P.values_batch_update_reply(["Leads!A2"]))

    gateway.apply(SheetWrites(values=(CellWrite(2, 1, "x"),)))

    assert len(sleeps) == 1


def test_the_retry_settings_reach_the_gateways_the_service_builds(
    api: responses.RequestsMock, key_file: Path, tmp_path: Path
) -> None:
    """JOURNEY_SYNC_RETRY_ATTEMPTS and _DELAY shape both services' retries (wiring)."""

    settings = load_settings(
        {
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "TODOIST_API_TOKEN": "0123456789abcdef-SECRET-token",
            # Nothing listens there (a port below 1024, which no test's server can take):
            # every Todoist attempt fails to connect.
            "JOURNEY_SYNC_TODOIST_API_URL": "http://127.0.0.1:9",
            "JOURNEY_SYNC_RETRY_ATTEMPTS": "2",
            "JOURNEY_SYNC_RETRY_DELAY": "0",
        }
    )
    workflow = load_workflows(Path(__file__).parents[2] / "workflows.yaml").workflows[0]
    api.get(
        spreadsheet_url().replace(ID, workflow.sheet.spreadsheet_id),
        json=P.ERROR_503,
        status=503,
    )
    sheets = sheet_gateway(workflow, settings)
    with pytest.raises(ApiError):
        sheets.read()
    assert (sheets.stats.requests, sheets.stats.retries) == (2, 1)

    tasks = task_gateway(settings)
    with pytest.raises(ServiceError):
        tasks.projects()
    assert (tasks.stats.requests, tasks.stats.retries) == (2, 1)
    tasks.close()


def test_plain_retry_stats_are_accepted(
    api: responses.RequestsMock, key_file: Path, sleeps: list[float]
) -> None:
    stats = RetryStats()
    gateway = make_gateway(key_file, sleeps, stats=stats)
    mock_metadata(api)
    mock_read(api)

    gateway.read()

    assert (stats.requests, stats.retries) == (2, 0)


# ------------------------------------------------------------------ secrets


def _failures(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, kind: str
) -> BaseException:
    if kind == "403":
        api.get(spreadsheet_url(), json=P.ERROR_403, status=403)
    elif kind == "401":
        api.get(spreadsheet_url(), json=P.ERROR_401, status=401)
    elif kind == "503":
        api.get(spreadsheet_url(), json=P.ERROR_503, status=503)
    elif kind == "timeout":
        api.get(spreadsheet_url(), body=requests.exceptions.ReadTimeout("timed out"))
    elif kind == "html echoing the request":
        api.get(
            spreadsheet_url(),
            body="<pre>GET /v4 HTTP/1.1\nAuthorization: Bearer ya29.test\n</pre>",
            status=400,
            content_type="text/html",
        )
    with pytest.raises(Exception) as caught:  # each kind has its own type
        gateway.read()
    return caught.value


@pytest.mark.parametrize("kind", ["403", "401", "503", "timeout", "html echoing the request"])
def test_errors_never_carry_the_key_the_token_or_the_auth_header(
    api: responses.RequestsMock, gateway: GoogleSheetsGateway, private_key_pem: str, kind: str
) -> None:
    error = _failures(api, gateway, kind)

    texts = [str(error), repr(error), repr(getattr(error, "body", None)), repr(error.args)]
    key_lines = [line for line in private_key_pem.splitlines() if "-----" not in line]
    for text in texts:
        assert "ya29.test" not in text
        assert "PRIVATE KEY" not in text
        assert not any(line in text for line in key_lines)
    assert "Authorization" not in str(error)
    assert "Bearer" not in str(error)
    # Not chained to the transport exception, whose .request holds the headers.
    assert error.__cause__ is None
    assert error.__suppress_context__


# --------------------------------------------------------------- key file problems


def test_token_refusal_is_reported_without_the_key(
    key_file: Path, sleeps: list[float], private_key_pem: str
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.post(TOKEN_URI, json=P.TOKEN_INVALID_GRANT, status=400)
        with pytest.raises(AccessError) as caught:
            make_gateway(key_file, sleeps).read()
    assert private_key_pem.splitlines()[1] not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot be read"),
        ("this is not json", "is not a JSON key file"),
        ({"type": "authorized_user", "client_id": "x"}, "is not a service account key"),
        ({"type": "service_account", "client_email": EMAIL}, "lacks private_key, token_uri"),
        ("BROKEN_KEY", "private key in"),
    ],
)
def test_bad_key_files_are_settings_errors_that_name_the_fix(
    tmp_path: Path, sleeps: list[float], private_key_pem: str, content: Any, expected: str
) -> None:
    path = tmp_path / "key.json"
    if content == "BROKEN_KEY":
        info = service_account_info(private_key_pem)
        info["private_key"] = info["private_key"].replace("A", "*", 40)
        path.write_text(json.dumps(info))
    elif isinstance(content, dict):
        path.write_text(json.dumps(content))
    elif content is not None:
        path.write_text(content)

    with pytest.raises(SettingsError) as caught:
        make_gateway(path, sleeps)

    message = str(caught.value)
    assert expected in message
    assert "PRIVATE KEY" not in message
    assert private_key_pem.splitlines()[1] not in message


def test_no_credentials_at_all_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        GoogleSheetsGateway(spreadsheet=ID, worksheet="Leads")


def test_a_base_url_without_scheme_is_a_settings_error(key_file: Path) -> None:
    with pytest.raises(SettingsError, match="JOURNEY_SYNC_SHEETS_API_URL"):
        GoogleSheetsGateway(
            credentials_file=key_file, spreadsheet=ID, worksheet="Leads", base_url="127.0.0.1:1"
        )


# ------------------------------------------------------------ keys (public google-auth)


def test_keys_load_as_google_auths_own_credentials_and_fetch_one_token(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-auth's regional-access-boundary lookup (a call to iamcredentials after each
    # refresh) is opt-in through this variable; journey-sync never sets it, so no subclass
    # is needed to keep it off.
    monkeypatch.delenv(
        "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED", raising=False
    )
    credentials = load_service_account(key_file)
    assert type(credentials) is service_account.Credentials
    with responses.RequestsMock() as api:  # any other request would fail the test
        api.post(TOKEN_URI, json=P.TOKEN_OK)
        fetch_token(credentials)
        assert [call.request.url for call in api.calls] == [TOKEN_URI]
    assert credentials.valid


def test_fetch_token_names_the_fix_when_google_refuses_the_key(key_file: Path) -> None:
    credentials = load_service_account(key_file)
    with responses.RequestsMock() as api:
        api.post(TOKEN_URI, json=P.TOKEN_INVALID_GRANT, status=400)
        with pytest.raises(AccessError) as caught:
            fetch_token(credentials)
    message = str(caught.value)
    assert "Google refused the service account key" in message and EMAIL in message
    assert "BEGIN" not in message


def test_the_tab_id_a_daemon_remembered_finds_a_renamed_tab_for_every_command(
    api: responses.RequestsMock, key_file: Path, tmp_path: Path
) -> None:
    """The daemon's gateway writes the tab's id into the state file; `report` and
    `add-lead` (gateways without the store) read it, so a renamed tab is found by them too."""
    from journey_sync.state import StateStore
    from journey_sync.wiring import SHEET_ID_KEY

    settings = load_settings(
        {
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "TODOIST_API_TOKEN": "0123456789abcdef-SECRET-token",
            "JOURNEY_SYNC_STATE": str(tmp_path / "state.db"),
        }
    )
    workflow = load_workflows(Path(__file__).parents[2] / "workflows.yaml").workflows[0]
    base = spreadsheet_url().replace(ID, workflow.sheet.spreadsheet_id)
    own = P.metadata(P.sheet("Overview", 0), P.sheet(workflow.sheet.worksheet, 4242))
    renamed = P.metadata(P.sheet("Overview", 0), P.sheet("Leads 2026", 4242))
    api.get(base, json=own)
    title = workflow.sheet.worksheet
    api.get(
        values_url(title).replace(ID, workflow.sheet.spreadsheet_id),
        json=P.value_range(f"{title}!A1:Z1000", P.SPARSE_VALUES),
    )
    state = StateStore(settings.state)
    sheet_gateway(workflow, settings, state=state).read()
    assert state.get(workflow.name, SHEET_ID_KEY) == "4242"
    state.close()

    api.replace(responses.GET, base, json=renamed)
    api.get(
        values_url("Leads 2026").replace(ID, workflow.sheet.spreadsheet_id),
        json=P.value_range("'Leads 2026'!A1:Z1000", P.SPARSE_VALUES),
    )
    assert sheet_gateway(workflow, settings).read().title == "Leads 2026"
