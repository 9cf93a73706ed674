"""Fixtures for the sandbox tests: a started sandbox and clients for its three APIs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from journey_sync_sandbox.oauth import ServiceAccount
from journey_sync_sandbox.server import Sandbox


@pytest.fixture(scope="session")
def account() -> ServiceAccount:
    # One RSA key for the whole run: generating keys is the slow part of a sandbox.
    return ServiceAccount.generate()


@pytest.fixture
def sandbox(account: ServiceAccount) -> Iterator[Sandbox]:
    with Sandbox(service_account=account) as running:
        yield running


@pytest.fixture
def google(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """Sheets API client holding a valid access token for the service account."""
    headers = {"Authorization": f"Bearer {sandbox.access_token()}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def todoist(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.todoist.token}"}
    with httpx.Client(base_url=sandbox.url + "/api/v1", headers=headers, timeout=10) as client:
        yield client
