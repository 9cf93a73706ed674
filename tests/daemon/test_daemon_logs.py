"""The redaction filter and the two log formats (issue #5, point 2)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from journey_sync.logs import (
    REDACTED,
    JsonFormatter,
    RedactingFilter,
    Redactor,
    TextFormatter,
    configure_logging,
    key_file_secrets,
)

TOKEN = "0123456789abcdef0123456789abcdef01234567"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)
KEY_ID = "8f4c2a1b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([TOKEN, PEM, KEY_ID])


def test_known_values_are_redacted_in_every_form(redactor: Redactor) -> None:
    texts = [
        f"token={TOKEN}",
        json.dumps({"private_key": PEM, "private_key_id": KEY_ID}),  # JSON-escaped newlines
        repr({"key": PEM}),  # repr-escaped
        "a line of the key: MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
        PEM,
    ]
    for text in texts:
        out = redactor.redact(text)
        assert TOKEN not in out and KEY_ID not in out
        assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj" not in out
        assert "MzEfYyjiWA4R4" not in out
        assert REDACTED in out


def test_secret_shapes_are_redacted_without_being_known() -> None:
    plain = Redactor()
    out = plain.redact(
        "headers={'Authorization': 'Bearer abc.DEF-123_x'} google=ya29.a0AfH6SMBx "
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY----- done"
    )
    assert "abc.DEF-123_x" not in out and "ya29.a0AfH6SMBx" not in out and "AAAA" not in out
    assert "Bearer [redacted]" in out and out.endswith(" done")
    # Redacting twice changes nothing more (a record may pass two handlers).
    assert plain.redact(out) == out


def test_short_values_are_not_treated_as_secrets() -> None:
    # A one-letter "token" would shred every word; real tokens are never that short.
    assert Redactor(["x", ""]).redact("six boxes") == "six boxes"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_filter_rewrites_message_args_traceback_and_fields(redactor: Redactor) -> None:
    try:
        raise RuntimeError(f"refused Authorization: Bearer {TOKEN}")
    except RuntimeError as caught:
        record = _record("sent %s with %r", TOKEN, {"key": KEY_ID}, exc=caught)
    record.fields = {"error": f"token {TOKEN}", "nested": [{"k": KEY_ID}], "n": 3}
    assert RedactingFilter(redactor).filter(record) is True
    for text in (
        TextFormatter().format(record),
        JsonFormatter().format(record),
    ):
        assert TOKEN not in text and KEY_ID not in text
    assert record.fields["n"] == 3
    assert record.getMessage().startswith(f"sent {REDACTED} with")


def test_filter_keeps_a_record_whose_arguments_do_not_fit() -> None:
    record = _record("two %s %s", TOKEN)  # one argument short
    RedactingFilter(Redactor([TOKEN])).filter(record)
    assert TOKEN not in record.getMessage()


def test_json_lines_are_one_object_each_with_fields() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", Redactor([TOKEN]), stream)
    try:
        log = logging.getLogger("journey_sync.test")
        log.info("cycle\nwith a newline", extra={"fields": {"workflow": "W", "leads": 3}})
        log.warning("token %s", TOKEN)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "cycle\nwith a newline" and first["workflow"] == "W"
    assert first["leads"] == 3 and first["level"] == "info" and first["time"].endswith("Z")
    assert second["message"] == f"token {REDACTED}"


def test_text_lines_carry_time_level_and_logger() -> None:
    stream = io.StringIO()
    handler = configure_logging("text", Redactor(), stream)
    try:
        logging.getLogger("journey_sync.test").info("hello %s", "world")
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert line.endswith("INFO    journey_sync.test: hello world")
    assert line[:4].isdigit() and "Z " in line


def test_key_file_secrets_reads_the_private_parts(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(
        json.dumps({"private_key": PEM, "private_key_id": KEY_ID, "client_email": "a@b"})
    )
    assert key_file_secrets(key) == [PEM, KEY_ID]
    assert key_file_secrets(tmp_path / "missing.json") == []
    (tmp_path / "bad.json").write_text("{not json")
    assert key_file_secrets(tmp_path / "bad.json") == []
