"""The sheet gateway on Google Sheets API v4, through gspread 6 and google-auth.

Cost per cycle is the product's headline figure, so every request here is deliberate:

* ``read()`` is one ``values.get`` of the worksheet's whole used range. The spreadsheet's
  metadata (sheet id, tab titles, conditional-format rules, grid size) is fetched once with
  a field mask and cached for the gateway's life; it is refetched only after a failure that
  may mean it changed (a 400, or a ``spreadsheets.batchUpdate`` that did not clearly succeed).
* ``apply()`` sends at most one ``spreadsheets.batchUpdate`` (inserts, formulas, notes, date
  formats, missing colour rules) and then at most one ``values.batchUpdate`` (RAW, one range
  per cell), each only when it has something to carry.

We use gspread's ``HTTPClient`` for the endpoints, but subclass it so that every request
goes to the configured base URL (gspread hard-codes https://sheets.googleapis.com, and the
daemon talks to a local emulator in the sandbox), has a timeout, and is retried by *our*
``RetryPolicy`` instead of gspread's ``BackOffHTTPClient`` (which never gives up and
ignores ``Retry-After``).

Error messages are built from what this module knows (spreadsheet id, service account
e-mail, Google's ``error.message``), never from a request, so they cannot carry the private
key, an access token or an ``Authorization`` header; exceptions are raised ``from None`` so
that the transport exceptions (whose ``request`` holds the headers) are not chained.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from google.auth.exceptions import RefreshError
from google.auth.exceptions import TransportError as GoogleTransportError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from gspread.exceptions import APIError, NoValidUrlKeyFound
from gspread.http_client import FileType, HTTPClient, ParamsType
from gspread.utils import absolute_range_name, extract_id_from_url, rowcol_to_a1

from ..errors import (
    AccessError,
    ApiError,
    JourneySyncError,
    ServiceError,
    SettingsError,
    SheetLayoutError,
    UserError,
)
from ..ports import (
    CellNote,
    CellValue,
    CellWrite,
    ColourRule,
    FormulaWrite,
    RowInsert,
    SheetSnapshot,
    SheetWrites,
)
from ..settings import DEFAULT_SHEETS_API_URL
from .retry import RetryPolicy, RetryStats, TransientFailure

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

    from ..settings import Settings

__all__ = ["SHEETS_SCOPES", "GoogleSheetsGateway", "SheetsHTTPClient", "SheetsStats"]

_log = logging.getLogger(__name__)

SERVICE = "Google Sheets"
SHEETS_SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)

# The prefix gspread.urls puts in front of every Sheets endpoint; rewritten to base_url.
_GOOGLE_SHEETS_ORIGIN = "https://sheets.googleapis.com"
_GOOGLE_TOKEN_HOST = "oauth2.googleapis.com"

# Only what the gateway needs: without a mask spreadsheets.get returns the spreadsheet's
# whole theme and default format (see the recorded metadata), 10-20 kB per call.
METADATA_FIELDS = (
    "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),conditionalFormats)"
)
# Dates as serial numbers and numbers as numbers: the core never guesses a text format.
READ_PARAMS: dict[str, str] = {
    "valueRenderOption": "UNFORMATTED_VALUE",
    "dateTimeRenderOption": "SERIAL_NUMBER",
    "majorDimension": "ROWS",
}
DATE_NUMBER_FORMAT = {"type": "DATE", "pattern": "yyyy-mm-dd"}

# spreadsheets.batchUpdate requests that are safe to resend after a timeout: they set a
# cell's content or format to a value, so applying them twice is applying them once.
# Anything else (insertDimension, appendDimension, addConditionalFormatRule) would be done
# twice if the first attempt reached Google and only the answer got lost.
_IDEMPOTENT_BATCH_REQUESTS = frozenset({"updateCells", "repeatCell"})

# What a non-idempotent request may be resent on: answers that mean "not processed", as in
# Google Cloud Workflows' http.default_retry_predicate_non_idempotent (429, 503, plus
# connections that never opened).
_NOT_PROCESSED_STATUSES = frozenset({429, 503})
_NO_RETRY_STATUS = 0  # any status outside RETRY_STATUSES stops the retry loop

_SPREADSHEET_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_A1_GRID = re.compile(r"!?\$?([A-Z]+)\$?(\d+):\$?([A-Z]+)\$?(\d+)$")
_SECRETISH = re.compile(r"(?i)(bearer\s+\S+|ya29\.\S+|-----BEGIN[^-]*-----.*)", re.DOTALL)

T = TypeVar("T")


@dataclass
class SheetsStats(RetryStats):
    """``RetryStats`` plus Google's two quota buckets: reads (GET) and writes (the rest).

    Counted per HTTP attempt, like ``requests``: Google counts a retried request again.
    """

    reads: int = 0
    writes: int = 0


# ------------------------------------------------------------------------ transport


class SheetsHTTPClient(HTTPClient):
    """gspread's HTTP client, pointed at ``base_url``, with a timeout and our retry policy."""

    def __init__(
        self,
        session: requests.Session,
        *,
        base_url: str,
        retry: RetryPolicy,
        stats: RetryStats,
        timeout: float | tuple[float, float],
    ) -> None:
        # gspread only builds its own AuthorizedSession when no session is given; ours is
        # already authorised, so the credentials argument is never used.
        super().__init__(None, session=session)  # type: ignore[arg-type]
        self.set_timeout(timeout)
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.stats = stats

    def url_for(self, endpoint: str) -> str:
        if endpoint.startswith(_GOOGLE_SHEETS_ORIGIN):
            return self.base_url + endpoint[len(_GOOGLE_SHEETS_ORIGIN) :]
        return endpoint

    def request(
        self,
        method: str,
        endpoint: str,
        params: ParamsType | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: FileType = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> requests.Response:
        url = self.url_for(endpoint)
        resend_on_timeout = _idempotent(method, url, json)
        is_read = method.upper() == "GET"

        def send() -> requests.Response:
            if isinstance(self.stats, SheetsStats):
                if is_read:
                    self.stats.reads += 1
                else:
                    self.stats.writes += 1
            try:
                response: requests.Response = self.session.request(
                    method=method,
                    url=url,
                    json=json,
                    params=params,
                    data=data,
                    files=files,
                    headers=headers,
                    timeout=self.timeout,
                )
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                GoogleTransportError,
            ) as exc:
                what = _describe_transport_error(exc)
                if resend_on_timeout or _never_reached_server(exc):
                    raise TransientFailure(what) from None
                raise ServiceError(
                    f"{SERVICE} at {self.base_url} did not answer a write ({what}). It may or "
                    "may not have been applied, so it is not resent blindly: the next cycle "
                    "reads the sheet again and retries."
                ) from None
            return response

        def status_of(response: requests.Response) -> int:
            status = response.status_code
            if resend_on_timeout or status in _NOT_PROCESSED_STATUSES:
                return status
            # A 500/502/504 to an insert may come after Google applied it: the policy must
            # not resend it; the next cycle re-reads the sheet instead.
            return _NO_RETRY_STATUS

        try:
            response = self.retry.run(
                send,
                status_of=status_of,
                retry_after_of=lambda r: r.headers.get("Retry-After"),
                stats=self.stats,
            )
        except TransientFailure as exc:
            raise ServiceError(
                f"Could not reach {SERVICE} at {self.base_url} ({exc}) after "
                f"{self.retry.max_attempts} attempts: the next cycle will retry."
            ) from None
        if response.ok:
            return response
        # gspread's own contract: a non-2xx answer is an APIError carrying the response.
        raise APIError(response)


def _idempotent(method: str, url: str, body: Mapping[str, Any] | None) -> bool:
    if method.upper() in ("GET", "PUT"):
        return True
    path = urlsplit(url).path
    if path.endswith("/values:batchUpdate"):
        return True  # the same values into the same cells
    if path.endswith(":batchUpdate") and body is not None:
        kinds = {kind for request in body.get("requests", ()) for kind in request}
        return kinds <= _IDEMPOTENT_BATCH_REQUESTS
    return False


def _never_reached_server(exc: Exception) -> bool:
    """True when the failed attempt provably never got to the Sheets API."""
    if isinstance(exc, GoogleTransportError):
        # The token endpoint failed, before the Sheets request was sent.
        return True
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        # requests wraps "could not open a connection" as MaxRetryError(NewConnectionError).
        reason = getattr(exc.args[0], "reason", None)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _describe_transport_error(exc: Exception) -> str:
    # The type only: the exception's text carries the URL and, for some, the request.
    if isinstance(exc, requests.Timeout):
        return f"timed out: {type(exc).__name__}"
    if isinstance(exc, GoogleTransportError):
        return "the token endpoint could not be reached"
    return f"connection failed: {type(exc).__name__}"


# ------------------------------------------------------------------------- metadata


@dataclass
class _SheetMeta:
    """What the gateway caches about its worksheet."""

    sheet_id: int
    title: str
    # One entry per conditional-format rule on the sheet, in priority order: the custom
    # formula (stripped) of a CUSTOM_FORMULA rule, None for any other kind of rule.
    rule_formulas: list[str | None] = field(default_factory=list)
    row_count: int | None = None
    column_count: int | None = None


def _parse_metadata(body: object, worksheet: str) -> tuple[_SheetMeta | None, list[str]]:
    sheets = body.get("sheets", []) if isinstance(body, dict) else []
    titles: list[str] = []
    found: _SheetMeta | None = None
    for sheet in sheets if isinstance(sheets, list) else []:
        props = sheet.get("properties", {}) if isinstance(sheet, dict) else {}
        title = props.get("title")
        if not isinstance(title, str):
            continue
        titles.append(title)
        if title != worksheet or found is not None:
            continue
        grid = props.get("gridProperties", {})
        found = _SheetMeta(
            # proto3 JSON may omit a zero sheetId; the first sheet's id is 0.
            sheet_id=int(props.get("sheetId", 0)),
            title=title,
            rule_formulas=[_rule_formula(rule) for rule in sheet.get("conditionalFormats", [])],
            row_count=_int_or_none(grid.get("rowCount")),
            column_count=_int_or_none(grid.get("columnCount")),
        )
    return found, titles


def _rule_formula(rule: object) -> str | None:
    if not isinstance(rule, dict):
        return None
    condition = rule.get("booleanRule", {}).get("condition", {})
    if condition.get("type") != "CUSTOM_FORMULA":
        return None
    values = condition.get("values") or [{}]
    formula = values[0].get("userEnteredValue")
    return formula.strip() if isinstance(formula, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + (ord(letter) - ord("A") + 1)
    return number


# --------------------------------------------------------------------------- gateway


class GoogleSheetsGateway:
    """``SheetGateway`` for one worksheet of one spreadsheet, as a service account.

    ``spreadsheet`` is the spreadsheet id or its full URL. Credentials come from
    ``credentials_file`` (a service account JSON key); tests and special set-ups may pass
    ready ``credentials`` or an already authorised ``session`` instead.
    """

    def __init__(
        self,
        *,
        spreadsheet: str,
        worksheet: str,
        credentials_file: Path | None = None,
        base_url: str = DEFAULT_SHEETS_API_URL,
        retry: RetryPolicy | None = None,
        stats: RetryStats | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        credentials: Credentials | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"The Sheets API URL {base_url!r} is not an http(s) URL: fix "
                "JOURNEY_SYNC_SHEETS_API_URL (or leave it unset for Google)."
            )
        self.spreadsheet_id = _spreadsheet_id(spreadsheet)
        self.worksheet = worksheet
        self.service_account_email: str | None = None
        if session is None:
            if credentials is None:
                if credentials_file is None:
                    raise SettingsError(
                        "No Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to the "
                        "service account key file (JSON) that the sheet is shared with."
                    )
                credentials = _load_service_account(credentials_file, base_url)
            # One refresh-and-resend on a 401 (a token revoked early); more is pointless.
            session = AuthorizedSession(  # type: ignore[no-untyped-call]
                credentials, max_refresh_attempts=1
            )
        if credentials is not None:
            email = getattr(credentials, "service_account_email", None)
            self.service_account_email = email if isinstance(email, str) else None
        self.stats: RetryStats = stats if stats is not None else SheetsStats()
        self._client = SheetsHTTPClient(
            session,
            base_url=base_url,
            retry=retry if retry is not None else RetryPolicy(),
            stats=self.stats,
            timeout=timeout,
        )
        self._meta: _SheetMeta | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        spreadsheet: str,
        worksheet: str,
        retry: RetryPolicy | None = None,
        stats: RetryStats | None = None,
    ) -> GoogleSheetsGateway:
        return cls(
            spreadsheet=spreadsheet,
            worksheet=worksheet,
            credentials_file=settings.require_google_credentials(),
            base_url=settings.sheets_api_url,
            retry=retry,
            stats=stats,
        )

    @property
    def base_url(self) -> str:
        return self._client.base_url

    # ----------------------------------------------------------------------- reading

    def read(self) -> SheetSnapshot:
        meta = self._metadata()
        try:
            body = self._call(
                lambda: self._client.values_get(
                    self.spreadsheet_id, absolute_range_name(meta.title), params=dict(READ_PARAMS)
                )
            )
        except ApiError as exc:
            if exc.status == 400:
                # "Unable to parse range" is what Google says when the tab was renamed or
                # deleted since the metadata was cached: look again, for a clear answer.
                self._meta = None
                self._metadata()
            raise
        if not isinstance(body, dict):
            raise ApiError(SERVICE, 200, "values.get answered with something that is not an object")
        self._note_grid(body.get("range"), meta)
        # An empty sheet has no "values" key at all; rows are ragged, empty rows are [].
        values = body.get("values", [])
        if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
            raise ApiError(SERVICE, 200, "values.get answered without a list of rows")
        rows: tuple[tuple[CellValue, ...], ...] = tuple(tuple(row) for row in values)
        return SheetSnapshot(title=meta.title, rows=rows)

    def _note_grid(self, echoed: object, meta: _SheetMeta) -> None:
        """Keep the grid size current from the range values.get echoes (free, every read).

        Google echoes the requested range clipped to the grid ("Leads!A1:Z1000"), not the
        data extent, so this follows rows people add or delete between cycles.
        """
        if not isinstance(echoed, str):
            return
        match = _A1_GRID.search(echoed)
        if match is None or match.group(1) != "A" or match.group(2) != "1":
            return
        meta.column_count = _column_number(match.group(3))
        meta.row_count = int(match.group(4))

    def _metadata(self) -> _SheetMeta:
        if self._meta is not None:
            return self._meta
        body = self._call(
            lambda: self._client.fetch_sheet_metadata(
                self.spreadsheet_id, params={"fields": METADATA_FIELDS}
            )
        )
        meta, titles = _parse_metadata(body, self.worksheet)
        if meta is None:
            existing = ", ".join(repr(t) for t in titles) or "none"
            hint = ""
            near = [t for t in titles if t.strip().casefold() == self.worksheet.strip().casefold()]
            if near:
                hint = f" (did you mean {near[0]!r}? The name must match exactly)"
            raise SheetLayoutError(
                f"Worksheet {self.worksheet!r} not found in spreadsheet {self.spreadsheet_id}"
                f"{hint}. Its worksheets are: {existing}. Fix the worksheet name in "
                "workflows.yaml or rename the tab."
            )
        self._meta = meta
        return meta

    # ----------------------------------------------------------------------- writing

    def apply(self, writes: SheetWrites) -> None:
        if not (writes.has_cell_changes() or writes.colour_rules):
            return
        _check_coordinates(writes)
        meta = self._metadata()
        requests_, added_rules, grown = self._batch_requests(writes, meta)
        if requests_:
            try:
                self._call(
                    lambda: self._client.batch_update(self.spreadsheet_id, {"requests": requests_})
                )
            except Exception:
                # Whether inserts or rules landed is now unknown: re-read the metadata next
                # time rather than trust a cache that may be wrong.
                self._meta = None
                raise
            for index, formula in added_rules:
                meta.rule_formulas.insert(index, formula)
            if meta.row_count is not None:
                meta.row_count += grown[0]
            if meta.column_count is not None:
                meta.column_count += grown[1]
        if writes.values:
            body = {
                "valueInputOption": "RAW",
                "data": [
                    {
                        "range": absolute_range_name(meta.title, rowcol_to_a1(w.row, w.column)),
                        # RAW: text is stored as typed, "=1+1" stays text; "" clears.
                        "values": [["" if w.value is None else w.value]],
                    }
                    for w in writes.values
                ],
            }
            try:
                self._call(lambda: self._client.values_batch_update(self.spreadsheet_id, body))
            except ApiError as exc:
                if exc.status == 400:
                    self._meta = None
                raise

    def _batch_requests(
        self, writes: SheetWrites, meta: _SheetMeta
    ) -> tuple[list[dict[str, Any]], list[tuple[int, str]], tuple[int, int]]:
        """The spreadsheets.batchUpdate requests, the rules they add, and the grid growth."""
        sid = meta.sheet_id
        requests_: list[dict[str, Any]] = []

        # Grow the grid first when a write falls outside it: Google refuses such writes
        # ("Range ('Leads'!A1001) exceeds grid limits. Max rows: 1000").
        inserted = sum(i.count for i in writes.inserts)
        append_rows = append_columns = 0
        if meta.row_count is not None:
            needed_before = max((i.before_row for i in writes.inserts), default=0)
            needed_after = max((c.row for c in _cells(writes)), default=0)
            append_rows = max(0, needed_before - meta.row_count)
            append_rows = max(append_rows, needed_after - (meta.row_count + inserted))
        if meta.column_count is not None:
            needed_columns = max(
                (
                    *(c.column for c in _cells(writes)),
                    *(r.last_column for r in writes.colour_rules),
                ),
                default=0,
            )
            append_columns = max(0, needed_columns - meta.column_count)
        for dimension, length in (("ROWS", append_rows), ("COLUMNS", append_columns)):
            if length:
                requests_.append(
                    {"appendDimension": {"sheetId": sid, "dimension": dimension, "length": length}}
                )

        requests_.extend(_insert_request(sid, i) for i in writes.inserts)
        requests_.extend(_formula_request(sid, f) for f in writes.formulas)
        requests_.extend(_note_request(sid, n) for n in writes.notes)
        requests_.extend(_date_format_request(sid, v) for v in writes.values if v.as_date)

        added = _missing_rules(writes.colour_rules, meta.rule_formulas)
        for index, rule in added:
            requests_.append(_rule_request(sid, rule, index))
            _log.info("adding colour rule %r to worksheet %r", rule.name, meta.title)
        # An empty list means no spreadsheets.batchUpdate at all (values-only cycles).
        return (
            requests_,
            [(index, rule.formula.strip()) for index, rule in added],
            (inserted + append_rows, append_columns),
        )

    # ------------------------------------------------------------------------ errors

    def _call(self, request: Callable[[], T]) -> T:
        """Run one gspread call and turn its failures into journey-sync errors."""
        try:
            return request()
        except APIError as exc:
            raise self._api_error(exc.response) from None
        except RefreshError as exc:
            raise self._refresh_error(exc) from None
        except requests.exceptions.JSONDecodeError:
            raise ApiError(
                SERVICE, 200, "answered with a body that is not JSON: is the API URL right?"
            ) from None

    def _api_error(self, response: requests.Response) -> JourneySyncError:
        status = response.status_code
        google_status, message, body = _google_error(response)
        who = self.service_account_email or "(the client_email in the key file)"
        if status == 401:
            return self._key_refused(None)
        if status == 403:
            if _is_service_disabled(body, message):
                return AccessError(
                    "The Google Sheets API is not enabled in the Google Cloud project of the "
                    f"service account {who}: enable it (Google Cloud console > APIs & Services > Library > Google "
                    "Sheets API > Enable), wait a minute, and the next cycle will retry."
                )
            return AccessError(
                f"The spreadsheet is not shared with the service account {who}: open the "
                "sheet, Share, add that e-mail as Editor."
            )
        if status == 404:
            return AccessError(
                f"Spreadsheet {self.spreadsheet_id} not found: check the spreadsheet id/URL "
                "in workflows.yaml"
            )
        if status == 429:
            text = (
                "rate limit exceeded (Google allows 60 reads and 60 writes a minute per user) "
                f"after {self._client.retry.max_attempts} attempts: the next cycle will retry"
            )
            return ApiError(SERVICE, status, text, body)
        if status >= 500:
            # Retried already when that was safe (see SheetsHTTPClient.request).
            return ApiError(SERVICE, status, f"{message}: the next cycle will retry", body)
        label = f"{google_status}: {message}" if google_status else message
        return ApiError(SERVICE, status, label, body)

    def _refresh_error(self, exc: RefreshError) -> JourneySyncError:
        if getattr(exc, "retryable", False):
            # google-auth already retried the token endpoint's 5xx/429 itself.
            return ServiceError(
                "Google's token endpoint is failing (a temporary error): the next cycle will retry."
            )
        detail = None
        if len(exc.args) > 1 and isinstance(exc.args[1], dict):
            parts = [exc.args[1].get("error"), exc.args[1].get("error_description")]
            detail = ": ".join(p for p in parts if isinstance(p, str) and p)
        return self._key_refused(detail)

    def _key_refused(self, detail: str | None) -> AccessError:
        who = f" for {self.service_account_email}" if self.service_account_email else ""
        said = f" (Google said: {_scrub(detail)[:200]})" if detail else ""
        return AccessError(
            "Google refused the service account key (expired, deleted or revoked?)"
            f"{said}: create a new key{who} (Google Cloud console > IAM & Admin > Service "
            "accounts > Keys > Add key > JSON) and point GOOGLE_APPLICATION_CREDENTIALS at it."
            " If the key is new, check that this machine's clock is right."
        )


def _google_error(response: requests.Response) -> tuple[str | None, str, object]:
    """Google's ``{"error": {"code", "message", "status"}}``, surviving any other body."""
    try:
        body = response.json()
    except ValueError:
        content_type = response.headers.get("Content-Type", "unknown type").split(";")[0]
        reason = response.reason or "error"
        snippet = _scrub(response.text[:300]) if response.text else None
        return None, f"{reason} (the answer was not JSON but {content_type})", snippet
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        status = error.get("status")
        return (
            status if isinstance(status, str) else None,
            _scrub(message) if isinstance(message, str) and message else response.reason or "error",
            body,
        )
    return None, response.reason or "error", body


def _is_service_disabled(body: object, message: str) -> bool:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(detail, dict) and detail.get("reason") in (
            "SERVICE_DISABLED",
            "API_DISABLED",
        ):
            return True
    return "has not been used in project" in message or "is disabled" in message


def _scrub(text: str) -> str:
    """Belt and braces for text we did not write (a proxy's error page, Google's words)."""
    return _SECRETISH.sub("[redacted]", text)


# ------------------------------------------------------------------ request builders


def _cell_range(sheet_id: int, row: int, column: int) -> dict[str, int]:
    return {
        "sheetId": sheet_id,
        "startRowIndex": row - 1,
        "endRowIndex": row,
        "startColumnIndex": column - 1,
        "endColumnIndex": column,
    }


def _insert_request(sheet_id: int, insert: RowInsert) -> dict[str, Any]:
    return {
        "insertDimension": {
            "range": {
                "sheetId": sheet_id,
                "dimension": "ROWS",
                "startIndex": insert.before_row - 1,
                "endIndex": insert.before_row - 1 + insert.count,
            },
            # New rows must not copy the lead row's colours or formats above them.
            "inheritFromBefore": False,
        }
    }


def _formula_request(sheet_id: int, write: FormulaWrite) -> dict[str, Any]:
    return {
        "updateCells": {
            "range": _cell_range(sheet_id, write.row, write.column),
            "rows": [{"values": [{"userEnteredValue": {"formulaValue": write.formula}}]}],
            "fields": "userEnteredValue",
        }
    }


def _note_request(sheet_id: int, note: CellNote) -> dict[str, Any]:
    return {
        "updateCells": {
            "range": _cell_range(sheet_id, note.row, note.column),
            "rows": [{"values": [{"note": note.text}]}],  # "" removes the note
            "fields": "note",
        }
    }


def _date_format_request(sheet_id: int, write: CellWrite) -> dict[str, Any]:
    return {
        "repeatCell": {
            "range": _cell_range(sheet_id, write.row, write.column),
            "cell": {"userEnteredFormat": {"numberFormat": dict(DATE_NUMBER_FORMAT)}},
            "fields": "userEnteredFormat.numberFormat",
        }
    }


def _rule_request(sheet_id: int, rule: ColourRule, index: int) -> dict[str, Any]:
    return {
        "addConditionalFormatRule": {
            "rule": {
                # No endRowIndex: the rule runs to the end of the sheet, so rows people add
                # below are coloured without another write.
                "ranges": [
                    {
                        "sheetId": sheet_id,
                        "startRowIndex": rule.first_row - 1,
                        "startColumnIndex": 0,
                        "endColumnIndex": rule.last_column,
                    }
                ],
                "booleanRule": {
                    "condition": {
                        "type": "CUSTOM_FORMULA",
                        "values": [{"userEnteredValue": rule.formula}],
                    },
                    "format": {
                        "backgroundColor": {
                            "red": rule.red,
                            "green": rule.green,
                            "blue": rule.blue,
                        }
                    },
                },
            },
            "index": index,
        }
    }


def _missing_rules(
    wanted: Sequence[ColourRule], existing: Sequence[str | None]
) -> list[tuple[int, ColourRule]]:
    """The rules to add, each with the index that keeps the wanted priority order.

    A rule is present when the sheet has a CUSTOM_FORMULA rule with the same formula. A
    missing rule goes right after the nearest higher-priority wanted rule already on the
    sheet, else right before the nearest lower-priority one, else after every existing rule
    (a person's own rules keep precedence over ours). Indexes are those at the moment each
    request runs, as batchUpdate applies requests in order.
    """
    current = list(existing)
    formulas = [rule.formula.strip() for rule in wanted]
    added: list[tuple[int, ColourRule]] = []
    for position, rule in enumerate(wanted):
        formula = formulas[position]
        if formula in current:
            continue
        index: int | None = None
        for earlier in reversed(formulas[:position]):
            if earlier in current:
                index = current.index(earlier) + 1
                break
        if index is None:
            later = [current.index(f) for f in formulas[position + 1 :] if f in current]
            index = min(later) if later else len(current)
        current.insert(index, formula)
        added.append((index, rule))
    return added


def _cells(writes: SheetWrites) -> tuple[CellWrite | FormulaWrite | CellNote, ...]:
    return (*writes.values, *writes.formulas, *writes.notes)


def _check_coordinates(writes: SheetWrites) -> None:
    """Programming errors in the plan must fail before anything is sent."""
    for cell in _cells(writes):
        if cell.row < 1 or cell.column < 1:
            raise ValueError(f"rows and columns are 1-based: {cell!r}")
    for insert in writes.inserts:
        if insert.before_row < 1 or insert.count < 1:
            raise ValueError(f"invalid row insert: {insert!r}")
    for rule in writes.colour_rules:
        if rule.first_row < 1 or rule.last_column < 1:
            raise ValueError(f"invalid colour rule range: {rule.name}")


# --------------------------------------------------------------------- configuration


def _spreadsheet_id(spreadsheet: str) -> str:
    value = spreadsheet.strip()
    if "/" in value:
        try:
            return str(extract_id_from_url(value))
        except NoValidUrlKeyFound:
            raise UserError(
                f"{spreadsheet!r} is not a Google Sheets URL: use the sheet's address "
                "(https://docs.google.com/spreadsheets/d/<id>/edit) or just its id in "
                "workflows.yaml"
            ) from None
    if not _SPREADSHEET_ID.match(value):
        raise UserError(
            f"{spreadsheet!r} is not a spreadsheet id: use the sheet's address or the id "
            "between /d/ and /edit in it, in workflows.yaml"
        )
    return value


class _ServiceAccountCredentials(service_account.Credentials):
    """Service account credentials that never call Google's IAM API on the side.

    google-auth >= 2.4x looks up a "regional access boundary" in a background thread
    after each token refresh, at iamcredentials.googleapis.com. Against the sandbox's
    token endpoint that is a call to real Google with a fake token (and, in tests, an
    unmocked request from a stray thread); we turn it off there. Older google-auth has no
    such hook, and then this override is simply unused.
    """

    def _is_regional_access_boundary_lookup_required(self) -> bool:
        return False


_REQUIRED_KEY_FIELDS = ("client_email", "private_key", "token_uri")


def _load_service_account(path: Path, base_url: str) -> Credentials:
    """Load a service account key, with messages that name the fix (never the key)."""
    fix = (
        "download a JSON key for the service account (Google Cloud console > IAM & Admin > "
        "Service accounts > Keys > Add key > JSON) and point GOOGLE_APPLICATION_CREDENTIALS at it."
    )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(
            f"The Google service account key file {path} cannot be read ({exc.strerror}): "
            "check GOOGLE_APPLICATION_CREDENTIALS and the secret's mount."
        ) from None
    try:
        info = json.loads(text)
    except ValueError:
        raise SettingsError(f"{path} is not a JSON key file: {fix}") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SettingsError(
            f'{path} is not a service account key (its "type" is not "service_account"): {fix}'
        )
    missing = [name for name in _REQUIRED_KEY_FIELDS if not info.get(name)]
    if missing:
        raise SettingsError(f"{path} lacks {', '.join(missing)}: {fix}")
    sandboxed = base_url.rstrip("/") != DEFAULT_SHEETS_API_URL or (
        urlsplit(str(info["token_uri"])).hostname != _GOOGLE_TOKEN_HOST
    )
    factory = _ServiceAccountCredentials if sandboxed else service_account.Credentials
    try:
        credentials: Credentials = factory.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(SHEETS_SCOPES)
        )
    except (ValueError, TypeError):
        # google-auth's text may quote the key material it failed to parse; ours does not.
        raise SettingsError(f"The private key in {path} cannot be loaded: {fix}") from None
    return credentials
