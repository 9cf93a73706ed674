"""The plain request/response values the emulators exchange with the HTTP server.

Keeping HTTP parsing in one place lets every emulator be a pure function of a
``Request`` (easy to test without sockets) and lets the server count, log, throttle
and fail requests uniformly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class BadBody(ValueError):
    """The body is not the JSON or form data the endpoint expects."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-encoded, without the query
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Request:
        parts = urlsplit(target)
        return cls(
            method=method.upper(),
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in (headers or {}).items()},
            body=body,
        )

    def segments(self) -> list[str]:
        """Path segments, each percent-decoded on its own (a range may hold ``%2F``)."""
        return [unquote(s) for s in self.path.split("/") if s]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    def is_form(self) -> bool:
        return "application/x-www-form-urlencoded" in self.headers.get("content-type", "")

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadBody(str(exc)) from None

    def form(self) -> dict[str, str]:
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadBody(str(exc)) from None
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls,
        status: int,
        data: Any,
        headers: Mapping[str, str] | None = None,
        *,
        compact: bool = False,
    ) -> Response:
        # Google answers pretty-printed JSON with this exact content type (recordings);
        # Todoist answers compact JSON (``compact``), a third smaller for a big /sync read.
        if compact:
            body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        else:
            body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        merged = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        return cls(status, body, merged)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status)

    def data(self) -> Any:
        return json.loads(self.body) if self.body else None
