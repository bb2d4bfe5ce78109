"""Fixtures the Shopify action tests share: one sandbox per module, reset before each test.

A module that needs its own sandbox (another version, narrowed tokens) defines `shopify_sandbox` itself."""

from collections.abc import Iterator

import httpx
import pytest

from tests.providers.shopify_fixtures import TOKEN, TOKEN_ENV, Instruments, OneSandbox, running_shopify_sandbox


@pytest.fixture(scope="module")
def shopify_sandbox() -> Iterator[OneSandbox]:
    """One Shopify sandbox for a test module."""
    with running_shopify_sandbox() as handle:
        yield handle
        assert handle.stop() == 0, handle.stderr()


@pytest.fixture
def box(shopify_sandbox: OneSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Instruments]:
    """The module's shopify_sandbox, reset for each test, with the token set."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with httpx.Client(base_url=shopify_sandbox.url, timeout=5) as http:
        instruments = Instruments(http)
        instruments.reset()
        yield instruments
