"""A 3-node Restate cluster (replication 2) on loopback: sagas run through it, one node is
SIGKILLed mid-saga, and every saga finishes through the surviving nodes' ingress, each
provider effect applied once."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot.services.client import PivotClient
from pivot.services.local.cluster import Cluster
from pivot.services.local.demo import flagship_plan
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.test_crash_matrix import _assert_exactly_once

LONG_TIER = os.environ.get("PIVOT_LONG_TIER") == "1"
pytestmark = pytest.mark.skipif(not LONG_TIER, reason="CI's long tier (.ci/run, PIVOT_LONG_TIER=1) runs it")


@pytest.fixture(scope="module")
def cluster(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base: Path = tmp_path_factory.mktemp("cluster")
    running = Cluster(base=base, identity_pem=stack.data_dir.parent / "identity" / "request-identity.pem")
    try:
        running.start(stack.service_url)
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(600)
def test_sagas_survive_the_loss_of_a_node(cluster: Cluster, sandboxes: Sandboxes) -> None:
    first, survivor = cluster.nodes[2], cluster.nodes[1]
    runs = [f"cluster-{uuid.uuid4().hex[:10]}" for _ in range(6)]
    hold = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="latency", latency_ms=2000,
                           times=1)
    with PivotClient(first.ingress_url, timeout_s=120) as client:
        for run_id in runs:
            client.submit(run_id, flagship_plan(f"{run_id}@example.com"))
    wait_until(lambda: sandboxes.fault_hits("stripe", hold) == 1, timeout_s=60, what="a saga mid-invoice")

    first.process.kill()

    with PivotClient(survivor.ingress_url, timeout_s=300) as client:
        for run_id in runs:
            # Resending the same run to a surviving node attaches to the original saga.
            outcome = client.run(run_id, flagship_plan(f"{run_id}@example.com"))
            wait_until(lambda: sandboxes.fault_held("stripe", hold) == 0, timeout_s=30, what="the held request")
            _assert_exactly_once(sandboxes, run_id, outcome, failing=False)
