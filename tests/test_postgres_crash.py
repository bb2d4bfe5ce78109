"""The crash matrix for the postgres.* actions: SIGKILL the service (or restate-server) while the step
is held at each boundary of its transaction, and prove exactly-once with the database itself — one
key row, one outbox event, one record (and, unwinding, one undo row and one undo event).

A point is held by the TCP fault proxy the service reaches PostgreSQL through (tests/conftest.py):
`hold` forwards a statement late (it reaches the server after the crash, and the transaction it is
part of rolls back when the server sees the client gone); `hold_answer` forwards it at once and
delivers the answer late (a COMMIT that committed, whose answer the crash loses).
"""

import os
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

INSERT, UPDATE, DELETE = "postgres.insert_record", "postgres.update_record", "postgres.delete_record"
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


def _plan(action: str, order_id: str, failing: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"table": "pg_orders", "key": {"id": order_id},
                              "outbox": {"topic": "order.changed", "payload": {"order": order_id}}}
    if action != DELETE:
        params["values"] = {"customer_id": 1, "total": "12.00", "status": "placed"}
    steps: list[dict[str, Any]] = [{"id": "order", "action": action, "params": params}]
    if failing:
        steps.append({"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
                      "params": {"customer": "cus_DoesNotExist0",
                                 "lines": [{"amount": 100, "currency": "usd", "description": "x"}]}})
    return {"steps": steps}


def _seed(database: "Database", action: str, order_id: str) -> None:
    """The row an update or a delete starts from."""
    if action != INSERT:
        database.execute("INSERT INTO pg_orders (id, customer_id, status) VALUES (%s, 2, 'seeded')", order_id)


def _assert_exactly_once(database: "Database", action: str, run_id: str, order_id: str, outcome: dict[str, Any],
                         failing: bool) -> None:
    keys = StepKeys.derive(run_id, "order", action)
    rows = database.steps(keys.forward)
    events = database.outbox(keys.forward, keys.compensation)
    order = database.order(order_id)
    if failing:
        assert outcome["status"] == "compensated", outcome
        assert [(r["key"], r["undoes"]) for r in rows] == [(keys.forward, None), (keys.compensation, keys.forward)]
        assert [e["topic"] for e in events] == ["order.changed", "order.changed.undone"]
        assert (order is None) if action == INSERT else (order is not None and order["row"]["status"] == "seeded")
        return
    assert outcome["status"] == "committed", outcome
    assert [r["key"] for r in rows] == [keys.forward]
    assert [(e["step_key"], e["topic"]) for e in events] == [(keys.forward, "order.changed")]
    assert (order is None) if action == DELETE else (order is not None and order["row"]["status"] == "placed")


def _hold(proxy: TcpFaultProxy, point: Point) -> str:
    proxy.clear()
    return proxy.add(point.action, point.match, delay_s=HOLD_S, skip=point.skip)


def _crash(stack: Stack, pivot: PivotClient, proxy: TcpFaultProxy, database: "Database", point: Point,
           restart: str, action: str = INSERT) -> None:
    run_id, order_id = f"pg-crash-{uuid.uuid4().hex[:10]}", f"ord-{uuid.uuid4().hex[:10]}"
    _seed(database, action, order_id)
    hold = _hold(proxy, point)
    try:
        pivot.submit(run_id, _plan(action, order_id, point.failing))
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
    _assert_exactly_once(database, action, run_id, order_id, outcome, point.failing)


EVERY_POINT = os.environ.get("PIVOT_CRASH_ALL") == "1"
SUITE_POINTS = [POINTS[1], POINTS[2], POINTS[5]]
"""The suite's share (about 12 s with the rest of this file): inside the transaction, and the two lost COMMIT
answers (forward and undo), where only the key row can tell what happened. CI's long tier
(`PIVOT_CRASH_ALL=1`, .ci/run) runs every point for every action."""


@pytest.mark.parametrize("point", POINTS if EVERY_POINT else SUITE_POINTS, ids=lambda p: p.name)
def test_service_sigkill(stack: Stack, pivot: PivotClient, postgres_proxy: TcpFaultProxy, database: "Database",
                         point: Point) -> None:
    _crash(stack, pivot, postgres_proxy, database, point, "service")


@pytest.mark.parametrize("point", [POINTS[2], POINTS[5]] if EVERY_POINT else [POINTS[2]], ids=lambda p: p.name)
def test_restate_server_sigkill(stack: Stack, pivot: PivotClient, postgres_proxy: TcpFaultProxy,
                                database: "Database", point: Point) -> None:
    _crash(stack, pivot, postgres_proxy, database, point, "restate-server")


@pytest.mark.parametrize("action", [UPDATE, DELETE])
@pytest.mark.parametrize("point", [POINTS[2], POINTS[5]] if EVERY_POINT else [POINTS[2]], ids=lambda p: p.name)
def test_update_and_delete_service_sigkill(stack: Stack, pivot: PivotClient, postgres_proxy: TcpFaultProxy,
                                           database: "Database", point: Point, action: str) -> None:
    """The two points where only the lookup can tell what happened (a COMMIT whose answer was lost),
    for the other two actions (the rest of their transaction is insert's: same code)."""
    _crash(stack, pivot, postgres_proxy, database, point, "service", action)
