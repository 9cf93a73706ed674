"""The Sheets API transport: the authorised HTTP client, retries, error mapping, key loading.

We use gspread's ``HTTPClient`` for the endpoints, but subclass it (through its public
``request`` method, the documented extension point) so that every request goes to the
configured base URL (gspread hard-codes https://sheets.googleapis.com, and the daemon talks
to a local emulator in the sandbox), has a timeout, and is retried by *our*
``RetryPolicy`` instead of gspread's ``BackOffHTTPClient`` (which never gives up and
ignores ``Retry-After``).

Error messages are built from what this module knows (spreadsheet id, service account
e-mail, Google's ``error.message``), never from a request, so they cannot carry the private
key, an access token or an ``Authorization`` header; exceptions are raised ``from None`` so
that the transport exceptions (whose ``request`` holds the headers) are not chained.

Keys are loaded with google-auth's public ``service_account.Credentials`` as they are.
(google-auth can look up a "regional access boundary" at iamcredentials.googleapis.com after
a token refresh, but only when ``GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_
LOOKUP_ENABLED`` is set: it is off by default in every version this project supports, and
journey-sync never sets it, so nothing needs turning off.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from google.auth.exceptions import RefreshError
from google.auth.exceptions import TransportError as GoogleTransportError
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import FileType, HTTPClient, ParamsType

from ..errors import AccessError, ApiError, JourneySyncError, ServiceError, SettingsError
from .retry import RetryPolicy, RetryStats, TransientFailure

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

SERVICE = "Google Sheets"
SHEETS_SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)

# The prefix gspread.urls puts in front of every Sheets endpoint; rewritten to base_url.
_GOOGLE_SHEETS_ORIGIN = "https://sheets.googleapis.com"

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


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class SheetsErrors:
    """Turns gspread's and google-auth's failures into journey-sync's errors, with the fix."""

    spreadsheet_id: str
    service_account_email: str | None
    max_attempts: int

    def call(self, request: Callable[[], T]) -> T:
        """Run one gspread call and turn its failures into journey-sync errors."""
        try:
            return request()
        except APIError as exc:
            raise self.api_error(exc.response) from None
        except RefreshError as exc:
            raise self.refresh_error(exc) from None
        except requests.exceptions.JSONDecodeError:
            raise ApiError(
                SERVICE, 200, "answered with a body that is not JSON: is the API URL right?"
            ) from None

    def api_error(self, response: requests.Response) -> JourneySyncError:
        status = response.status_code
        google_status, message, body = _google_error(response)
        who = self.service_account_email or "(the client_email in the key file)"
        if status == 401:
            return self.key_refused(None)
        if status in (400, 403) and "protected cell or object" in message:
            # Google's 400 for a write into a range protected by Data > Protect sheets and
            # ranges ("Invalid data[0]: You are trying to edit a protected cell or object").
            return AccessError(
                "A cell journey-sync writes (a lead id, a mark, a date, the footer or a note) "
                "is in a protected range, and nothing was written this cycle. In the sheet, "
                "Data > Protect sheets and ranges: add the service account "
                f"{who} as an editor of that protection (or set it to 'Show a warning'), or "
                "leave journey-sync's columns and the rows under the leads unprotected. The "
                "next cycle retries."
            )
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
                f"after {self.max_attempts} attempts: the next cycle will retry"
            )
            return ApiError(SERVICE, status, text, body)
        if status >= 500:
            # Retried already when that was safe (see SheetsHTTPClient.request).
            return ApiError(SERVICE, status, f"{message}: the next cycle will retry", body)
        label = f"{google_status}: {message}" if google_status else message
        return ApiError(SERVICE, status, label, body)

    def refresh_error(self, exc: RefreshError) -> JourneySyncError:
        if getattr(exc, "retryable", False):
            # google-auth already retried the token endpoint's 5xx/429 itself.
            return ServiceError(
                "Google's token endpoint is failing (a temporary error): the next cycle will retry."
            )
        detail = None
        if len(exc.args) > 1 and isinstance(exc.args[1], dict):
            parts = [exc.args[1].get("error"), exc.args[1].get("error_description")]
            detail = ": ".join(p for p in parts if isinstance(p, str) and p)
        return self.key_refused(detail)

    def key_refused(self, detail: str | None) -> AccessError:
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


# ------------------------------------------------------------------------- keys


_REQUIRED_KEY_FIELDS = ("client_email", "private_key", "token_uri")


def load_service_account(path: Path) -> Credentials:
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
    try:
        credentials: Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(SHEETS_SCOPES)
        )
    except (ValueError, TypeError):
        # google-auth's text may quote the key material it failed to parse; ours does not.
        raise SettingsError(f"The private key in {path} cannot be loaded: {fix}") from None
    return credentials


def service_account_email(credentials: Credentials) -> str | None:
    email = getattr(credentials, "service_account_email", None)
    return email if isinstance(email, str) else None


def fetch_token(credentials: Credentials) -> None:
    """Ask Google's token endpoint for an access token now (``doctor``'s key check).

    The key's own ``token_uri`` is used, as every later request would. Raises
    ``AccessError`` (key refused, endpoint unreachable) or ``ServiceError`` (the endpoint
    failing for now), with what to do.
    """
    from google.auth.transport.requests import Request

    errors = SheetsErrors("", service_account_email(credentials), 1)
    try:
        credentials.refresh(Request())  # type: ignore[no-untyped-call]
    except RefreshError as exc:
        raise errors.refresh_error(exc) from None
    except GoogleTransportError:
        raise AccessError(
            "Google's token endpoint could not be reached: check the network (and "
            "the key's token_uri)."
        ) from None
