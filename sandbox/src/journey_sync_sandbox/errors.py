"""Error bodies in each real service's own shape.

Google (``gsheets_error_*.json``): ``{"error": {"code", "message", "status"}}`` with
``Content-Type: application/json; charset=UTF-8``; some 400s add ``details``.

Todoist (``todoist_docs_v1_error_responses.json``): ``{"error", "error_code",
"error_extra", "error_tag", "http_code"}``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from .web import Response

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

GOOGLE_MESSAGES = {
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    403: "The caller does not have permission",  # gsheets_error_403_permission_denied.json
    404: "Requested entity was not found.",  # gsheets_error_404_spreadsheet_not_found.json
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}


def google_error(
    code: int,
    message: str | None = None,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {
        "code": code,
        "message": message or GOOGLE_MESSAGES.get(code, "Error"),
        "status": GOOGLE_STATUS.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return Response.json(code, {"error": error}, headers)


def google_quota_error(kind: str, limit: int, retry_after: int) -> Response:
    """429 RESOURCE_EXHAUSTED as Sheets answers a per-minute-per-user quota."""
    metric = "Read requests" if kind == "read" else "Write requests"
    message = (
        f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per "
        f"user' of service 'sheets.googleapis.com' for consumer 'project_number:sandbox'."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "quota_limit_value": str(limit),
                "quota_metric": f"sheets.googleapis.com/{kind}_requests",
                "service": "sheets.googleapis.com",
            },
        }
    ]
    return google_error(429, message, details=details, headers={"Retry-After": str(retry_after)})


TODOIST_ERRORS: dict[int, tuple[str, int, str]] = {
    # http status -> (error, error_code, error_tag)
    400: ("Invalid argument value", 20, "INVALID_ARGUMENT_VALUE"),
    401: ("Invalid token", 401, "AUTH_INVALID_TOKEN"),
    403: ("Forbidden", 403, "FORBIDDEN"),
    404: ("Not found", 478, "NOT_FOUND"),
    429: ("Too many requests", 429, "TOO_MANY_REQUESTS"),
    500: ("Internal server error", 500, "INTERNAL_SERVER_ERROR"),
    502: ("Bad gateway", 502, "BAD_GATEWAY"),
    503: ("Service unavailable", 503, "SERVICE_UNAVAILABLE"),
}


def todoist_error_body(
    status: int,
    *,
    error: str | None = None,
    error_code: int | None = None,
    error_tag: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    default_error, default_code, default_tag = TODOIST_ERRORS.get(
        status, ("Error", status, "UNKNOWN")
    )
    # The documented REST error carries an event id for support in error_extra.
    error_extra = {"event_id": secrets.token_hex(16), **(extra or {})}
    return {
        "error": error or default_error,
        "error_code": default_code if error_code is None else error_code,
        "error_extra": error_extra,
        "error_tag": error_tag or default_tag,
        "http_code": status,
    }


def todoist_error(
    status: int,
    *,
    error: str | None = None,
    error_code: int | None = None,
    error_tag: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = todoist_error_body(
        status, error=error, error_code=error_code, error_tag=error_tag, extra=extra
    )
    return Response.json(
        status, body, {"Content-Type": "application/json", **(headers or {})}, compact=True
    )
