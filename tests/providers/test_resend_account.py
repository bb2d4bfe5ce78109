"""`pivot doctor` and `pivot setup` for Resend against the Resend sandbox: all green with a full-access
key and a verified domain; a sending-only key named as one (Resend refuses it the read-back every send
is verified with); an unknown key refused with its fix; a missing key named;
no credential in any check or step."""

from collections.abc import AsyncIterator, Iterator
from typing import get_args

import httpx
import pytest

from pivot.providers.account_kit import CheckName
from pivot.providers.http import Endpoint
from pivot.providers.resend.account import ResendAccount
from pivot.providers.resend.client import ResendClient
from tests.providers.account_helpers import assert_no_secret, by_name
from tests.sandbox.process import RESEND_KEY, running_sandboxes

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]
KEY_ENV = "PIVOT_TEST_RESEND_KEY"
SENDING_ONLY = "re_sendingOnlyForDoctor_0001"


@pytest.fixture(scope="module")
def resend_url() -> Iterator[str]:
    with running_sandboxes(("resend",)) as handle:
        yield handle.urls["resend"]


@pytest.fixture
async def account(resend_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ResendAccount]:
    httpx.post(f"{resend_url}/_sandbox/reset").raise_for_status()
    monkeypatch.setenv(KEY_ENV, RESEND_KEY)
    client = ResendClient(Endpoint(provider="resend", base_url=resend_url, credential_env=KEY_ENV, timeout_s=2.0,
                                   label="Resend"))
    yield ResendAccount(client)
    await client.http.aclose()


async def test_doctor_is_all_green_against_a_fresh_sandbox(account: ResendAccount) -> None:
    checks = await account.checks()
    assert [c.name for c in checks if c.name in get_args(CheckName)] == [c.name for c in checks]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert "example.com" in by_name(checks)["scopes"].detail
    assert "of 2 requests" in by_name(checks)["rate limit"].detail
    steps = await account.setup(dry_run=False)
    assert [s.state for s in steps] == ["exists", "exists"]
    assert_no_secret(checks, RESEND_KEY)
    assert_no_secret(steps, RESEND_KEY)


async def test_a_sending_only_key_is_named_with_its_fix(account: ResendAccount, resend_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    httpx.post(f"{resend_url}/_sandbox/tokens", json={"token": SENDING_ONLY, "scopes": ["sending"]})
    monkeypatch.setenv(KEY_ENV, SENDING_ONLY)
    checks = by_name(await account.checks())
    assert checks["credentials"].ok and "sending only" in checks["credentials"].detail
    assert not checks["scopes"].ok and "Full access" in checks["scopes"].fix
    steps = await account.setup(dry_run=True)
    assert steps[-1].state == "manual"
    assert_no_secret(list(checks.values()), SENDING_ONLY)


async def test_an_unknown_key_is_refused(account: ResendAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "re_unknownToTheSandbox_0002")
    checks = by_name(await account.checks())
    assert not checks["credentials"].ok and "invalid_api_key" in checks["credentials"].detail
    assert KEY_ENV in checks["credentials"].fix
    assert not checks["scopes"].ok


async def test_no_key_configured_is_named(account: ResendAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    checks = await account.checks()
    assert [c.name for c in checks] == ["credentials"] and KEY_ENV in checks[0].fix
