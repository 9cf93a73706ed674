"""The sheet gateway on Google Sheets API v4, through gspread 6 and google-auth.

Cost per cycle is the product's headline figure, so every request here is deliberate:

* ``read()`` is one ``values.get`` of the worksheet's whole used range. The spreadsheet's
  metadata (sheet id, tab titles, conditional-format rules, grid size) is fetched once with
  a field mask and cached for the gateway's life; it is refetched only after a failure that
  may mean it changed (a 400, or a ``spreadsheets.batchUpdate`` that did not clearly succeed).
* ``apply()`` sends at most one ``spreadsheets.batchUpdate`` (inserts, formulas, notes, date
  formats, missing colour rules) and then at most one ``values.batchUpdate`` (RAW, one range
  per cell), each only when it has something to carry.

The request bodies are built by the pure functions of ``sheets_requests``; the HTTP client,
retries, error mapping and key loading are ``sheets_transport``'s.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import requests
from google.auth.transport.requests import AuthorizedSession
from gspread.exceptions import NoValidUrlKeyFound
from gspread.urls import SPREADSHEET_VALUES_URL
from gspread.utils import absolute_range_name, extract_id_from_url, quote, rowcol_to_a1

from ..errors import ApiError, SettingsError, SheetLayoutError, UserError
from ..ports import SheetSnapshot, SheetWrites
from ..settings import DEFAULT_SHEETS_API_URL
from .retry import RetryPolicy, RetryStats
from .sheet_rows import RowDecoder
from .sheets_requests import (
    METADATA_FIELDS,
    READ_PARAMS,
    SheetMeta,
    batch_requests,
    check_coordinates,
    grid_from_echo,
    parse_metadata,
    values_body,
)
from .sheets_transport import (
    SHEETS_SCOPES,
    SheetsErrors,
    SheetsHTTPClient,
    SheetsStats,
    load_service_account,
    service_account_email,
)
from .tab_requests import TAB_METADATA_FIELDS, tabs_batch

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

__all__ = [
    "METADATA_FIELDS",
    "SHEETS_SCOPES",
    "GoogleSheetsGateway",
    "SheetsHTTPClient",
    "SheetsStats",
]

_log = logging.getLogger(__name__)

_SPREADSHEET_ID = re.compile(r"^[A-Za-z0-9_-]+$")

T = TypeVar("T")


# --------------------------------------------------------------------------- gateway


# How long the colour rules seen in the metadata are trusted, in a cycle that writes: a
# rule a person deleted is added again at most this long after (one metadata read).
RULES_MAX_AGE = 3600.0
# Rules seen this long ago or less (in this cycle's read) are taken as they are.
RULES_FRESH = 10.0


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
        known_sheet_id: int | None = None,
        on_sheet_id: Callable[[int], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
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
                credentials = load_service_account(credentials_file)
            # One refresh-and-resend on a 401 (a token revoked early); more is pointless.
            session = AuthorizedSession(  # type: ignore[no-untyped-call]
                credentials, max_refresh_attempts=1
            )
        if credentials is not None:
            self.service_account_email = service_account_email(credentials)
        self.stats: RetryStats = stats if stats is not None else SheetsStats()
        self._client = SheetsHTTPClient(
            session,
            base_url=base_url,
            retry=retry if retry is not None else RetryPolicy(),
            stats=self.stats,
            timeout=timeout,
        )
        self._rows = RowDecoder()
        self._errors = SheetsErrors(
            self.spreadsheet_id, self.service_account_email, self._client.retry.max_attempts
        )
        self._meta: SheetMeta | None = None
        self._monotonic = monotonic
        self._meta_read_at = 0.0
        # The id of the tab last used (remembered across restarts by the caller through
        # ``on_sheet_id``): a person who renames the tab keeps its id, and the sync follows.
        self._sheet_id = known_sheet_id
        self._on_sheet_id = on_sheet_id

    @property
    def base_url(self) -> str:
        return self._client.base_url

    # ----------------------------------------------------------------------- reading

    def read(self) -> SheetSnapshot:
        meta = self._metadata()
        url = SPREADSHEET_VALUES_URL % (self.spreadsheet_id, quote(absolute_range_name(meta.title)))
        try:
            # The body as bytes (gspread's values_get would decode it all): rows unchanged
            # since the last read are not decoded again (``sheet_rows``).
            response = self._errors.call(
                lambda: self._client.request("get", url, params=dict(READ_PARAMS))
            )
        except ApiError as exc:
            if exc.status != 400:
                raise
            # "Unable to parse range" is what Google says when the tab was renamed or
            # deleted since the metadata was cached: look again. A renamed tab is followed
            # (read again at once); a deleted one is a clear error.
            self._meta = None
            if self._metadata().title == meta.title:
                raise
            return self.read()
        # An empty sheet has no "values" key at all; rows are ragged, empty rows are [].
        echoed, rows = self._rows.decode(response.content)
        self._note_grid(echoed, meta)
        return SheetSnapshot(title=meta.title, rows=rows)

    def formula_cells(self, rows: Sequence[int], last_column: int) -> frozenset[tuple[int, int]]:
        """One ``values.batchGet`` of these rows with ``valueRenderOption=FORMULA``."""
        if not rows:
            return frozenset()
        meta = self._metadata()
        ordered = sorted(set(rows))
        ranges = [
            absolute_range_name(meta.title, f"A{r}:{rowcol_to_a1(r, last_column)}") for r in ordered
        ]
        body = self._errors.call(
            lambda: self._client.values_batch_get(
                self.spreadsheet_id, ranges, params={"valueRenderOption": "FORMULA"}
            )
        )
        found: set[tuple[int, int]] = set()
        value_ranges = body.get("valueRanges", []) if isinstance(body, dict) else []
        for row, value_range in zip(ordered, value_ranges, strict=False):
            values = value_range.get("values", []) if isinstance(value_range, dict) else []
            cells = values[0] if values and isinstance(values[0], list) else []
            for column, value in enumerate(cells, start=1):
                if isinstance(value, str) and value.startswith("="):
                    found.add((row, column))
        return frozenset(found)

    def _note_grid(self, echoed: object, meta: SheetMeta) -> None:
        """Keep the grid size current from the range values.get echoes (free, every read)."""
        grid = grid_from_echo(echoed)
        if grid is not None:
            meta.row_count, meta.column_count = grid

    def _metadata(self) -> SheetMeta:
        if self._meta is not None:
            return self._meta
        body = self._errors.call(
            lambda: self._client.fetch_sheet_metadata(
                self.spreadsheet_id, params={"fields": METADATA_FIELDS}
            )
        )
        self._meta_read_at = self._monotonic()
        meta, titles = parse_metadata(body, self.worksheet, self._sheet_id)
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
        if meta.title != self.worksheet:
            _log.warning(
                "the worksheet %r was renamed to %r (the same tab): journey-sync follows it. "
                "Put worksheet: %r in workflows.yaml: a new tab named %r would be taken "
                "for the leads' tab instead.",
                self.worksheet,
                meta.title,
                meta.title,
                self.worksheet,
            )
        if meta.sheet_id != self._sheet_id:
            self._sheet_id = meta.sheet_id
            if self._on_sheet_id is not None:
                self._on_sheet_id(meta.sheet_id)
        self._meta = meta
        return meta

    def tab_chart_titles(self, title: str) -> frozenset[str] | None:
        sheets = self._errors.call(
            lambda: self._client.fetch_sheet_metadata(
                self.spreadsheet_id, params={"fields": TAB_METADATA_FIELDS}
            )
        ).get("sheets", [])
        for sheet in sheets:
            if sheet.get("properties", {}).get("title") == title:
                titles = (
                    (chart.get("spec") or {}).get("title") for chart in sheet.get("charts", [])
                )
                return frozenset(t for t in titles if isinstance(t, str))
        return None

    # ----------------------------------------------------------------------- writing

    def apply(self, writes: SheetWrites) -> None:
        if not (writes.has_cell_changes() or writes.colour_rules or writes.tabs):
            return
        check_coordinates(writes)
        if (
            self._meta is not None
            and writes.has_cell_changes()
            and self._monotonic() - self._meta_read_at > RULES_MAX_AGE
        ):
            self._meta = None  # a rule a person deleted meanwhile is put back
        meta = self._metadata()
        batch = batch_requests(writes, meta)
        if (batch.added_rules or batch.removed_rules) and (
            self._monotonic() - self._meta_read_at > RULES_FRESH
        ):
            # The rules seen when the metadata was read may be stale: Sheets rewrites a
            # rule's formula when a person inserts a column ($K2 becomes $L2), which the
            # kept copy would take for a missing rule, adding it a second time.
            self._meta = None
            meta = self._metadata()
            batch = batch_requests(writes, meta)
        tab_values: list[dict[str, object]] = []
        if writes.tabs:
            # journey-sync's own tab (the Funnel tab), only in cycles where it changed:
            # a fresh look at the sheets and their charts, so a chart is never added twice.
            sheets = self._errors.call(
                lambda: self._client.fetch_sheet_metadata(
                    self.spreadsheet_id, params={"fields": TAB_METADATA_FIELDS}
                )
            ).get("sheets", [])
            tab_requests, tab_values = tabs_batch(writes.tabs, sheets)
            batch.requests.extend(tab_requests)
        for index in batch.removed_rules:
            _log.info(
                "removing an outdated colour rule of journey-sync's from worksheet %r: %r",
                meta.title,
                meta.rule_formulas[index],
            )
        for _, rule in batch.added_rules:
            _log.info("adding colour rule %r to worksheet %r", rule.name, meta.title)
        if batch.requests:
            body = {"requests": batch.requests}
            try:
                self._errors.call(lambda: self._client.batch_update(self.spreadsheet_id, body))
            except Exception:
                # Whether inserts or rules landed is now unknown: re-read the metadata next
                # time rather than trust a cache that may be wrong.
                self._meta = None
                raise
            for index in batch.removed_rules:
                del meta.rule_formulas[index]
            for index, rule in batch.added_rules:
                meta.rule_formulas.insert(index, rule.formula.strip())
            if meta.row_count is not None:
                meta.row_count += batch.grown_rows
            if meta.column_count is not None:
                meta.column_count += batch.grown_columns
        if (writes.values and not writes.values_with_inserts) or tab_values:
            values = values_body(meta.title, writes)
            if writes.values_with_inserts:
                values["data"] = []  # written in the batchUpdate above
            values["data"].extend(tab_values)
            try:
                self._errors.call(
                    lambda: self._client.values_batch_update(self.spreadsheet_id, values)
                )
            except ApiError as exc:
                if exc.status == 400:
                    self._meta = None
                raise


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
