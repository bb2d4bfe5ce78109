"""The crash matrix for postgres.insert_record: SIGKILL the service (or restate-server) while the step
is held at each boundary of its transaction, and prove exactly-once with the database itself — one
key row, one outbox event, one record (and, unwinding, one undo row and one undo event).

A point is held by the TCP fault proxy the service reaches PostgreSQL through (tests/conftest.py):
`hold` forwards a statement late (it reaches the server after the crash, and the transaction it is
part of rolls back when the server sees the client gone); `hold_answer` forwards it at once and
delivers the answer late (a COMMIT that committed, whose answer the crash loses).
"""

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pivot.compensations.keys import StepKeys
from pivot.services.client import PivotClient
from pivot.services.conformance.tcp_proxy import TcpAction, TcpFaultProxy
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack

if TYPE_CHECKING:
    from tests.postgres_fixtures import Database

pytest_plugins = ["tests.postgres_fixtures"]  # the `database` fixture

INSERT = "postgres.insert_record"
HOLD_S = 1.5


@dataclass(frozen=True)
class Point:
    name: str
    action: TcpAction
    match: bytes
    skip: int = 0
    failing: bool = False
    """A plan whose pivot Stripe refuses: the insert is undone (to hold the undo)."""


POINTS = [
    Point("lookup before the write", "hold", b'FROM "pivot"."steps" s LEFT JOIN'),
    Point("inside the transaction (key row insert)", "hold", b'INSERT INTO "pivot"."steps"'),
    Point("COMMIT committed, answer lost", "hold_answer", b"COMMIT"),
    Point("read-back", "hold", b"ARRAY["),
    Point("undo: inside its transaction", "hold", b'INSERT INTO "pivot"."steps"', skip=1, failing=True),
    Point("undo: COMMIT committed, answer lost", "hold_answer", b"COMMIT", skip=1, failing=True),
]


def _plan(order_id: str, failing: bool) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{
        "id": "order", "action": INSERT,
        "params": {"table": "pg_orders", "key": {"id": order_id}, "values": {"customer_id": 1, "total": "12.00"},
                   "outbox": {"topic": "order.created", "payload": {"order": order_id}}}}]
    if failing:
        steps.append({"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
                      "params": {"customer": "cus_DoesNotExist0",
                                 "lines": [{"amount": 100, "currency": "usd", "description": "x"}]}})
    return {"steps": steps}


def _assert_exactly_once(database: "Database", run_id: str, order_id: str, outcome: dict[str, Any],
                         failing: bool) -> None:
    keys = StepKeys.derive(run_id, "order", INSERT)
    rows = database.steps(keys.forward)
    events = database.outbox(keys.forward, keys.compensation)
    if failing:
        assert outcome["status"] == "compensated", outcome
        assert [(r["key"], r["undoes"]) for r in rows] == [(keys.forward, None), (keys.compensation, keys.forward)]
        assert [e["topic"] for e in events] == ["order.created", "order.created.undone"]
        assert database.order(order_id) is None
        return
    assert outcome["status"] == "committed", outcome
    assert [r["key"] for r in rows] == [keys.forward]
    assert [(e["step_key"], e["topic"]) for e in events] == [(keys.forward, "order.created")]
    assert database.order(order_id) is not None


def _hold(proxy: TcpFaultProxy, point: Point) -> str:
    proxy.clear()
    return proxy.add(point.action, point.match, delay_s=HOLD_S, skip=point.skip)


def _crash(stack: Stack, pivot: PivotClient, proxy: TcpFaultProxy, database: "Database", point: Point,
           restart: str) -> None:
    run_id, order_id = f"pg-crash-{uuid.uuid4().hex[:10]}", f"ord-{uuid.uuid4().hex[:10]}"
    hold = _hold(proxy, point)
    try:
        pivot.submit(run_id, _plan(order_id, point.failing))
        wait_until(lambda: proxy.held(hold) == 1, timeout_s=60, what=point.name)
        if restart == "service":
            stack.restart_service()
        else:
            stack.restart_restate()
            stack.register()
        outcome = pivot.attach(run_id)
        wait_until(lambda: proxy.held(hold) == 0, timeout_s=30, what="the held message")
    finally:
        proxy.clear()
    _assert_exactly_once(database, run_id, order_id, outcome, point.failing)


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_service_sigkill(stack: Stack, pivot: PivotClient, postgres_proxy: TcpFaultProxy, database: "Database",
                         point: Point) -> None:
    _crash(stack, pivot, postgres_proxy, database, point, "service")


@pytest.mark.parametrize("point", [POINTS[2], POINTS[5]], ids=lambda p: p.name)
def test_restate_server_sigkill(stack: Stack, pivot: PivotClient, postgres_proxy: TcpFaultProxy,
                                database: "Database", point: Point) -> None:
    _crash(stack, pivot, postgres_proxy, database, point, "restate-server")
