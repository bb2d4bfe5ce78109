"""The provider HTTP layer's lanes (providers/http.py): a burst opens connections up to the
per-provider cap and no further, and a light load stays on one connection (the least busy lane,
the first among equals, takes each request; taking turns would open one per lane).

Counted from the outside: this process's established TCP connections to the sandbox's port, read
from /proc, while the sandbox holds every answer back for a moment so the requests overlap.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from pivot.providers.http import MAX_CONNECTIONS
from pivot.providers.stripe.client import StripeClient
from pivot.services.local.processes import ESTABLISHED, tcp_sockets

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


def sandbox_port(boxes: Boxes) -> int:
    port = urlsplit(boxes.stripe.url).port
    assert port is not None
    return port


def connections_to(port: int) -> int:
    """Established TCP connections of this process whose remote port is `port`."""
    return sum(sock.state == ESTABLISHED and sock.remote_port == port for sock in tcp_sockets(os.getpid()))


async def test_a_burst_fills_every_lane_and_no_more(sandbox: Boxes, stripe_client: StripeClient) -> None:
    port = sandbox_port(sandbox)
    sandbox.stripe.fault(method="GET", path="/v1/customers", action="latency", latency_ms=300, times=None)
    before = connections_to(port)  # the test's own client to the sandbox's controls
    burst = MAX_CONNECTIONS + 8  # more than the cap: the rest wait for a slot

    statuses = await asyncio.gather(*(stripe_client.http.request("GET", "/v1/customers") for _ in range(burst)))

    assert [response.status_code for response in statuses] == [200] * burst
    # Every lane opened all its connections (the cap was reached), none beyond it, and they stay open.
    assert connections_to(port) - before == MAX_CONNECTIONS


async def test_one_request_at_a_time_stays_on_one_connection(sandbox: Boxes, stripe_client: StripeClient) -> None:
    port = sandbox_port(sandbox)
    before = connections_to(port)
    for _ in range(10):
        response = await stripe_client.http.request("GET", "/v1/customers")
        assert response.status_code == 200
    assert connections_to(port) - before == 1
