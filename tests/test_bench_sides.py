"""The benchmark's other sides are real: the `restate-saga` peer is a saga, and two service
processes really share one registered endpoint.

Both matter for bench/RESULTS.md: a peer that did not compensate, or a "two processes" point
where the second process received nothing, would make the figures meaningless.
"""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from bench.harness import bench_stack
from bench.latency_plans import five_plan
from pivot.services.local.demo import DEMO_CHANNEL, flagship_plan
from pivot.services.local.processes import ESTABLISHED, tcp_sockets
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with bench_stack(tmp_path_factory.mktemp("bench-sides")) as stack:
        yield stack


def _run(stack: Stack, service: str, run_id: str, plan: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{stack.ingress_url}/{service}/{run_id}/run", json=plan, timeout=120)


def test_peer_saga_commits_and_undoes_on_a_terminal_error(bench: Stack) -> None:
    sandboxes = Sandboxes(bench.sandbox_urls)
    token = uuid.uuid4().hex[:8]
    done = _run(bench, "PeerSaga", f"peer-ok-{token}", flagship_plan(f"peer-ok+{token}@example.com"))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "committed"
    assert done.json()["message"]["ts"]

    plan = flagship_plan(f"peer-undo+{token}@example.com")
    plan["steps"][2]["params"]["channel"] = "C_NO_SUCH_CHANNEL"  # Slack: channel_not_found, terminal
    assert plan["steps"][2]["params"]["channel"] != DEMO_CHANNEL
    failed = _run(bench, "PeerSaga", f"peer-undo-{token}", plan)
    assert failed.status_code >= 400, failed.text
    assert "channel_not_found" in failed.text

    hubspot, stripe = sandboxes.ledger("hubspot"), sandboxes.ledger("stripe")
    contact_id = next(e["id"] for e in reversed(hubspot) if (e["op"], e["object"]) == ("create", "contact"))
    assert ("archive", contact_id) in {(e["op"], e["id"]) for e in hubspot}
    invoice_id = next(e["id"] for e in reversed(stripe) if (e["op"], e["object"]) == ("create", "invoice"))
    assert ("void", invoice_id) in {(e["op"], e["id"]) for e in stripe}
    # The committed saga's contact was not undone: only the failed saga's was.
    first_contact = next(e["id"] for e in hubspot if (e["op"], e["object"]) == ("create", "contact"))
    assert ("archive", first_contact) not in {(e["op"], e["id"]) for e in hubspot}


def test_the_five_step_peer_undoes_all_four_writes_when_its_invoice_is_refused(bench: Stack) -> None:
    """The latency bench's five-step peer is a saga too: a refused invoice undoes the contact,
    the customer, the Account and the draft, each in its own system."""
    sandboxes = Sandboxes(bench.sandbox_urls)
    token = uuid.uuid4().hex[:8]
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=400)  # terminal
    try:
        failed = _run(bench, "PeerFiveSaga", f"peer-five-{token}", five_plan(token))
    finally:
        sandboxes.clear_faults()
    assert failed.status_code >= 400, failed.text

    def undone(provider: str, made: str, undo: str) -> bool:
        ledger = sandboxes.ledger(provider)
        made_ids = [e["id"] for e in ledger if e["op"] == "create" and e["object"] == made]
        return bool(made_ids) and (undo, made_ids[-1]) in {(e["op"], e["id"]) for e in ledger}

    assert undone("hubspot", "contact", "archive")
    assert undone("stripe", "customer", "delete")
    assert undone("salesforce", "Account", "delete")
    assert undone("shopify", "draft_order", "delete")


def _accepted_from(pid: int, port: int) -> set[int]:
    """Remote ports of the established connections that process `pid` accepted on `port`."""
    return {sock.remote_port for sock in tcp_sockets(pid) if sock.state == ESTABLISHED and sock.local_port == port}


def test_two_service_processes_share_one_registered_endpoint(bench: Stack) -> None:
    replica = bench.service_replica()
    replica.start()
    try:
        replica.wait_listening(bench.ports.service)
        bench.restart_restate()  # Restate reconnects; the kernel spreads the connections
        bench.register()
        token = uuid.uuid4().hex[:8]
        for index in range(24):  # 24 run ids land on most of the 24 partitions
            response = _run(bench, "SagaRun", f"two-{token}-{index}",
                            flagship_plan(f"two{index}+{token}@example.com"))
            assert response.json()["status"] == "committed", response.text
        assert bench.service.pid is not None and replica.pid is not None
        port = bench.ports.service
        first, second = _accepted_from(bench.service.pid, port), _accepted_from(replica.pid, port)
        # Restate's connections to the shared port reached both processes (and none is shared).
        assert first and second, (first, second)
        assert not first & second
    finally:
        replica.stop()
