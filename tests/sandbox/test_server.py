"""The sandbox server: counters, quotas, faults, restarts, OAuth with google-auth, the
workdir it writes and ``serve`` as a process."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import gspread
import httpx
import pytest
import requests
from google.auth import crypt, jwt
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account

from journey_sync.workflow import load_workflows
from journey_sync_sandbox.oauth import OAuthServer, ServiceAccount
from journey_sync_sandbox.quota import Quota
from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.traffic import LoggedRequest
from journey_sync_sandbox.workdir import SOURCES, read_env_file
from support.world import HEADERS

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]


def _credentials(key_file: Path) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)


# ----------------------------------------------------------------- counters


def test_counters_and_log_per_service(
    sandbox: Sandbox, google: httpx.Client, todoist: httpx.Client
) -> None:
    book = sandbox.create_spreadsheet("B", spreadsheet_id="1book")
    sandbox.traffic.reset()
    google.get("/v4/spreadsheets/1book/values/Sheet1")
    google.get("/v4/spreadsheets/1book/values:batchGet", params={"ranges": "A1"})
    google.put(
        "/v4/spreadsheets/1book/values/A1",
        params={"valueInputOption": "RAW"},
        json={"values": [["x"]]},
    )
    google.post(
        "/v4/spreadsheets/1book:batchUpdate",
        json={
            "requests": [
                {
                    "insertDimension": {
                        "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 1}
                    }
                }
            ]
        },
    )
    todoist.post("/sync", data={"sync_token": "*", "resource_types": '["items"]'})
    httpx.post(f"{sandbox.url}/token", data={"grant_type": "nope"})
    assert sandbox.traffic.counts() == {
        "sheets_reads": 2,
        "sheets_writes": 2,
        "todoist_requests": 1,
        "oauth_token_requests": 1,
    }
    log = sandbox.traffic.log()
    assert log[0] == LoggedRequest("sheets", "GET", "/v4/spreadsheets/1book/values/Sheet1", 200)
    assert [(e.service, e.status) for e in log[-2:]] == [("todoist", 200), ("oauth", 400)]
    assert book.worksheet().value(2, 1) == "x"


# -------------------------------------------------------------------- quota


def test_quotas_answer_429_with_retry_after_until_the_window_refills(
    account: ServiceAccount,
) -> None:
    now = [1000.0]  # a fake monotonic clock: no sleeping
    quota = Quota(
        sheets_reads_per_minute=2,
        sheets_writes_per_minute=1,
        todoist_requests=2,
        clock=lambda: now[0],
    )
    with Sandbox(quota=quota, service_account=account) as sandbox:
        sandbox.create_spreadsheet("B", spreadsheet_id="1book")
        google = httpx.Client(
            base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.access_token()}"}
        )
        read = "/v4/spreadsheets/1book/values/Sheet1"
        assert [google.get(read).status_code for _ in range(2)] == [200, 200]
        refused = google.get(read)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "20"  # the minute window ends at t=1020
        error = refused.json()["error"]
        assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
        assert "Read requests per minute per user" in error["message"]
        write = google.put(read, params={"valueInputOption": "RAW"}, json={"values": [["x"]]})
        assert write.status_code == 200  # writes have their own quota
        now[0] += 20
        assert google.get(read).status_code == 200
        todoist = httpx.Client(
            base_url=sandbox.url + "/api/v1",
            headers={"Authorization": f"Bearer {sandbox.todoist.token}"},
        )
        statuses = [todoist.post("/sync", data={"sync_token": "*"}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = todoist.post("/sync", data={"sync_token": "*"})
        assert limited.headers["Retry-After"] == "780"  # it is t=1020; the window ends at 1800
        assert limited.json()["error_extra"]["retry_after"] == 780
        assert limited.json()["http_code"] == 429
        now[0] += 780
        assert todoist.post("/sync", data={"sync_token": "*"}).status_code == 200
        google.close()
        todoist.close()


# ------------------------------------------------------------------- faults


def test_fail_next_answers_in_each_services_error_shape(
    sandbox: Sandbox, google: httpx.Client, todoist: httpx.Client
) -> None:
    sandbox.create_spreadsheet("B", spreadsheet_id="1book")
    sandbox.fail_next("sheets", 503, count=2, retry_after=3)
    sandbox.fail_next("todoist", 502, retry_after=7)
    sandbox.fail_next("oauth", 500)
    read = "/v4/spreadsheets/1book/values/Sheet1"
    first, second, third = (google.get(read) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["Retry-After"] == "3"
    assert first.json() == {
        "error": {
            "code": 503,
            "message": "The service is currently unavailable.",
            "status": "UNAVAILABLE",
        }
    }
    failed = todoist.post("/sync", data={"sync_token": "*"})
    assert failed.status_code == 502 and failed.headers["Retry-After"] == "7"
    assert failed.json()["http_code"] == 502 and failed.json()["error_extra"]["retry_after"] == 7
    assert todoist.post("/sync", data={"sync_token": "*"}).status_code == 200
    assert httpx.post(f"{sandbox.url}/token", data={}).status_code == 500
    assert sandbox.traffic.sheets_reads == 3  # refused requests are counted too


def test_stop_and_start_on_the_same_port_keeps_state(
    sandbox: Sandbox, google: httpx.Client
) -> None:
    book = sandbox.create_spreadsheet("B", spreadsheet_id="1book")
    book.worksheet().set_cell(1, 1, "kept")
    read = "/v4/spreadsheets/1book/values/A1"
    assert google.get(read).status_code == 200
    port = sandbox.port
    sandbox.stop()
    with pytest.raises(httpx.TransportError):
        google.get(read)  # even the kept-alive connection is gone
    sandbox.start()
    assert sandbox.port == port
    assert google.get(read).json()["values"] == [["kept"]]


def test_pause_holds_requests_until_resume(sandbox: Sandbox, todoist: httpx.Client) -> None:
    sandbox.pause()
    answers: list[int] = []
    worker = threading.Thread(
        target=lambda: answers.append(todoist.post("/sync", data={"sync_token": "*"}).status_code)
    )
    worker.start()
    worker.join(timeout=0.3)
    assert worker.is_alive() and answers == []
    sandbox.resume()
    worker.join(timeout=5)
    assert answers == [200]


# -------------------------------------------------------------------- OAuth


def test_google_auth_refreshes_against_the_sandbox_token_endpoint(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    workdir = sandbox.write_workdir(tmp_path, leads=3)
    credentials = _credentials(workdir / "service-account.json")
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.valid and credentials.token.startswith("ya29.")
    assert credentials.expiry > datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=55)
    assert sandbox.traffic.oauth_token_requests == 1
    answer = httpx.get(
        f"{sandbox.url}/v4/spreadsheets/{sandbox.spreadsheet.id}/values/Leads!A1:B1",  # type: ignore[union-attr]
        headers={"Authorization": f"Bearer {credentials.token}"},
    )
    assert answer.json()["values"] == [["Client name", "Date of lead"]]
    # A deleted key: Google answers invalid_grant, google-auth raises RefreshError.
    sandbox.oauth.revoke_key(sandbox.service_account.private_key_id)
    with pytest.raises(RefreshError, match=r"invalid_grant.*Invalid JWT Signature"):
        _credentials(workdir / "service-account.json").refresh(
            google.auth.transport.requests.Request()
        )


def test_token_endpoint_refusals(account: ServiceAccount) -> None:
    now = [1_800_000_000.0]
    oauth = OAuthServer(now=lambda: now[0])
    oauth.register(account)
    signer = crypt.RSASigner.from_service_account_info(account.key_info("http://x/token"))

    def grant(claims: dict[str, Any]) -> dict[str, Any]:
        assertion = jwt.encode(signer, claims).decode()
        from journey_sync_sandbox.web import Request

        body = f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        answer = oauth.handle(
            Request.build(
                "POST",
                "/token",
                {"Host": "127.0.0.1:1", "Content-Type": "application/x-www-form-urlencoded"},
                body.encode(),
            )
        )
        return {"status": answer.status, **answer.data()}

    good = {
        "iss": account.client_email,
        "aud": "https://oauth2.googleapis.com/token",
        "iat": int(now[0]),
        "exp": int(now[0]) + 3600,
        "scope": SCOPES[0],
    }
    issued = grant(good)
    assert (
        issued["status"] == 200
        and issued["expires_in"] == 3600
        and issued["token_type"] == "Bearer"
    )
    assert oauth.authenticate(issued["access_token"]) == account.client_email
    expired = grant({**good, "iat": int(now[0]) - 7200, "exp": int(now[0]) - 3600})
    assert (expired["status"], expired["error"]) == (400, "invalid_grant")
    assert "Check your iat and exp values" in expired["error_description"]
    stranger = grant({**good, "iss": "who@else.iam.gserviceaccount.com"})
    assert stranger["error_description"] == "Invalid grant: account not found"
    wrong_audience = grant({**good, "aud": "https://example.com/token"})
    assert "audience" in wrong_audience["error_description"]
    now[0] += 3601  # access tokens last an hour
    assert oauth.authenticate(issued["access_token"]) is None


# ------------------------------------------------------------------ gspread


class _ToSandbox(requests.adapters.HTTPAdapter):
    """Sends gspread's https://sheets.googleapis.com requests to the sandbox."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        assert request.url is not None
        request.url = request.url.replace("https://sheets.googleapis.com", self.url, 1)
        return super().send(request, *args, **kwargs)


def test_gspread_works_against_the_seeded_sheet(sandbox: Sandbox, tmp_path: Path) -> None:
    workdir = sandbox.write_workdir(tmp_path, leads=4)
    client = gspread.authorize(_credentials(workdir / "service-account.json"))
    client.http_client.session.mount("https://sheets.googleapis.com", _ToSandbox(sandbox.url))
    book = client.open_by_key(sandbox.spreadsheet.id)  # type: ignore[union-attr]
    sheet = book.worksheet("Leads")
    rows = sheet.get_all_values(value_render_option=gspread.utils.ValueRenderOption.unformatted)
    assert rows[0] == HEADERS and len(rows) == 5
    sheet.update([["1"]], "E2", raw=True)  # RAW text "1", as a person might type it
    sheet.update([[1]], "E3", raw=True)
    sheet.update([["=COUNTIF(E2:E5,1)"]], "E7", raw=False)
    assert (
        sheet.acell("E7", value_render_option=gspread.utils.ValueRenderOption.unformatted).value
        == 1
    )
    assert sheet.row_count == 1000 and book.title == "Studio leads"


# ------------------------------------------------------------------ workdir


def test_write_workdir_seeds_a_studio_sheet_and_writes_the_files(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    workdir = sandbox.write_workdir(tmp_path / "wd", leads=12, seed=3)
    env = read_env_file(workdir / "env")
    assert env == {
        "GOOGLE_APPLICATION_CREDENTIALS": str((workdir / "service-account.json").resolve()),
        "TODOIST_API_TOKEN": sandbox.todoist.token,
        "JOURNEY_SYNC_SHEETS_API_URL": sandbox.url,
        "JOURNEY_SYNC_TODOIST_API_URL": sandbox.url,
        "JOURNEY_SYNC_WORKFLOWS": str((workdir / "workflows.yaml").resolve()),
        "JOURNEY_SYNC_STATE": str((workdir / "journey-sync.db").resolve()),
    }
    assert stat.S_IMODE((workdir / "service-account.json").stat().st_mode) == 0o600
    book = sandbox.spreadsheet
    assert book is not None
    workflow = load_workflows(workdir / "workflows.yaml").workflows[0]
    assert workflow.sheet.spreadsheet_id == book.id
    rows = book.evaluated_rows("Leads")
    assert rows[0] == HEADERS
    leads = rows[1:]
    assert len(leads) == 12
    today = datetime.now(UTC).date()
    serials = [row[1] for row in leads]
    assert serials == sorted(serials)
    for name, serial, heard, source, *rest in leads:
        assert name and heard and source in SOURCES and rest == []  # no marks, no lead ids
        assert today - timedelta(days=180) <= date(1899, 12, 30) + timedelta(days=serial) <= today
    assert book.worksheet("Leads").formatted_rows()[1][1].count("/") == 2  # dd/mm/yyyy
    assert book.worksheet("Leads").frozen_row_count == 1
    assert {c["full_name"] for c in sandbox.todoist.list_collaborators()} == {
        "Sam Carter",
        "Priya Shah",
    }


def test_serve_runs_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "journey_sync_sandbox.server",
            "serve",
            "--port",
            "0",
            "--workdir",
            str(tmp_path),
            "--leads",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while "ready" not in lines and time.monotonic() < deadline:
            lines.append(process.stdout.readline().strip())
        assert "ready" in lines, lines
        url = lines[0]
        assert url.startswith("http://127.0.0.1:")
        token = {"Authorization": "Bearer sandbox-todoist-token"}
        answer = httpx.post(
            f"{url}/api/v1/sync",
            data={"sync_token": "*", "resource_types": '["items"]'},
            headers=token,
        )
        assert answer.status_code == 200
        assert (tmp_path / "env").exists() and (tmp_path / "service-account.json").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
