"""postgres.insert_record / update_record / delete_record against the test stack's real PostgreSQL,
through the real engine. The evidence is the database itself: the record, Pivot's `pivot.steps` key
rows and the `pivot.outbox` events."""

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from pivot.compensations.keys import StepKeys
from pivot.services.client import PivotClient

if TYPE_CHECKING:
    from tests.postgres_fixtures import Database

pytest_plugins = ["tests.postgres_fixtures"]  # the `database` fixture

INSERT, UPDATE, DELETE = "postgres.insert_record", "postgres.update_record", "postgres.delete_record"
FAILING_PIVOT = {"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
                 "params": {"customer": "cus_DoesNotExist0",
                            "lines": [{"amount": 100, "currency": "usd", "description": "x"}]}}
"""A pivot Stripe refuses (no such customer): the saga unwinds what came before it."""


def _order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:10]}"


def _insert(order_id: str, **values: Any) -> dict[str, Any]:
    return {"table": "pg_orders", "key": {"id": order_id},
            "values": {"customer_id": 1, "status": "new", "total": "120.50", "placed_on": "2026-12-07", **values},
            "outbox": {"topic": "order.created", "payload": {"order": order_id}}}


def _keys(run_id: str, step: str, action: str) -> StepKeys:
    return StepKeys.derive(run_id, step, action)


def test_insert_and_update_commit_with_their_outbox_events(pivot: PivotClient, database: "Database") -> None:
    run_id, order_id = f"pg-{uuid.uuid4().hex[:10]}", _order_id()
    outcome = pivot.run(run_id, {"steps": [
        {"id": "order", "action": INSERT, "params": _insert(order_id)},
        {"id": "confirm", "action": UPDATE,
         "params": {"table": "pg_orders", "key": {"id": order_id}, "values": {"status": "confirmed"},
                    "outbox": {"topic": "order.confirmed", "payload": {"order": order_id}}}},
    ]})
    assert outcome["status"] == "committed", outcome
    order = database.order(order_id)
    assert order is not None and order["row"]["status"] == "confirmed" and order["row"]["total"] == 120.5
    inserted, updated = _keys(run_id, "order", INSERT).forward, _keys(run_id, "confirm", UPDATE).forward
    [insert_row] = database.steps(inserted)
    assert insert_row["before_image"] is None and insert_row["after_image"]["status"] == "new"
    [update_row] = database.steps(updated)
    assert update_row["before_image"]["status"] == "new" and update_row["after_image"]["status"] == "confirmed"
    assert update_row["columns"] == ["status"]
    events = database.outbox(inserted, updated)
    assert [(e["step_key"], e["topic"]) for e in events] == [(inserted, "order.created"), (updated, "order.confirmed")]
    step = outcome["steps"][0]
    assert step["ref"] == f"postgres:pg_orders/{order_id}"


def test_unwind_restores_every_row_and_writes_undo_events(pivot: PivotClient, database: "Database") -> None:
    run_id, order_id, doomed = f"pg-{uuid.uuid4().hex[:10]}", _order_id(), _order_id()
    database.execute("INSERT INTO pg_orders (id, customer_id, status, note) VALUES (%s, 2, 'new', 'keep me')", doomed)
    outcome = pivot.run(run_id, {"steps": [
        {"id": "order", "action": INSERT, "params": _insert(order_id)},
        {"id": "tier", "action": UPDATE,
         "params": {"table": "pg_customers", "key": {"id": 2}, "values": {"tier": "platinum"},
                    "outbox": {"topic": "customer.upgraded", "payload": {"id": 2}}}},
        {"id": "drop", "action": DELETE, "params": {"table": "pg_orders", "key": {"id": doomed}}},
        FAILING_PIVOT,
    ]})
    assert outcome["status"] == "compensated", outcome
    assert [s["state"] for s in outcome["steps"][:3]] == ["compensated"] * 3
    assert database.order(order_id) is None
    assert database.one("SELECT tier FROM pg_customers WHERE id = 2") == {"tier": "silver"}
    restored = database.order(doomed)
    assert restored is not None and restored["row"]["note"] == "keep me"
    order_keys = _keys(run_id, "order", INSERT)
    rows = database.steps(order_keys.forward)
    assert [(r["key"], r["undoes"]) for r in rows] == [(order_keys.forward, None),
                                                       (order_keys.compensation, order_keys.forward)]
    tier = _keys(run_id, "tier", UPDATE)
    events = database.outbox(order_keys.forward, order_keys.compensation, tier.forward, tier.compensation)
    assert sorted(e["topic"] for e in events) == ["customer.upgraded", "customer.upgraded.undone",
                                                  "order.created", "order.created.undone"]


def test_a_concurrent_writer_is_not_overwritten(pivot: PivotClient, database: "Database") -> None:
    """Another session updates the row after the step and before the undo: the undo leaves the row as
    that session left it, and the saga needs attention (with both values), never a silent overwrite."""
    run_id, order_id = f"pg-open-{uuid.uuid4().hex[:10]}", _order_id()
    inserted = pivot.step(run_id, "order", INSERT, _insert(order_id))
    assert inserted["step"]["state"] == "verified", inserted
    changed = pivot.step(run_id, "ship", UPDATE, {"table": "pg_orders", "key": {"id": order_id},
                                                  "values": {"status": "packed"}})
    assert changed["step"]["state"] == "verified", changed
    database.execute("UPDATE pg_orders SET status = 'shipped by the warehouse', note = 'theirs' WHERE id = %s",
                     order_id)

    outcome = pivot.abort(run_id, "the agent changed its mind")

    assert outcome["status"] == "needs_attention", outcome
    states = {s["id"]: s["state"] for s in outcome["steps"]}
    assert states == {"order": "compensation_failed", "ship": "compensation_failed"}
    row = database.order(order_id)
    assert row is not None and row["row"]["status"] == "shipped by the warehouse" and row["row"]["note"] == "theirs"
    for step, action in (("order", INSERT), ("ship", UPDATE)):
        keys = _keys(run_id, step, action)
        assert [r["key"] for r in database.steps(keys.forward)] == [keys.forward]  # no undo row
        assert database.outbox(keys.compensation) == []


def test_the_outbox_event_commits_with_the_record_or_not_at_all(pivot: PivotClient, database: "Database") -> None:
    """pg_orders.customer_id is checked at COMMIT: the row, its key row and its outbox event were all
    written in the transaction when it fails, and none of them is there after."""
    run_id, order_id = f"pg-{uuid.uuid4().hex[:10]}", _order_id()
    outcome = pivot.run(run_id, {"steps": [{"id": "order", "action": INSERT,
                                            "params": _insert(order_id, customer_id=999)}]})
    assert outcome["status"] in {"compensated", "needs_attention"}, outcome
    step = outcome["steps"][0]
    assert step["state"] in {"failed", "nothing_to_undo"} and step["error"]["code"] == "postgres_23503", step
    key = _keys(run_id, "order", INSERT).forward
    assert database.order(order_id) is None
    assert database.steps(key) == [] and database.outbox(key) == []


@pytest.mark.parametrize(("params", "code"), [
    ({"table": "pg_secrets", "key": {"id": 1}, "values": {"x": 1}}, "table_not_configured"),
    ({"table": "pivot.steps", "key": {"key": "k"}, "values": {"action": "x"}}, "table_not_configured"),
    ({"table": "pg_orders", "key": {"order": "x"}, "values": {"status": "new"}}, "invalid_key"),
    ({"table": "pg_orders", "key": {"id": "x"}, "values": {'status" = 1; --': "new"}}, "invalid_identifier"),
    ({"table": "pg_orders", "key": {"id": "x"}, "values": {"id": "y"}}, "invalid_values"),
], ids=["unconfigured table", "pivot's own table", "not the key columns", "column not an identifier", "key as value"])
def test_identifiers_are_refused_unless_configured(pivot: PivotClient, database: "Database", params: dict[str, Any],
                                                   code: str) -> None:
    run_id = f"pg-refused-{uuid.uuid4().hex[:10]}"
    outcome = pivot.run(run_id, {"steps": [{"id": "order", "action": INSERT, "params": params}]})
    step = outcome["steps"][0]
    assert step["error"]["code"] == code, step
    assert database.steps(_keys(run_id, "order", INSERT).forward) == []


def test_a_composite_key_and_typed_values(pivot: PivotClient, database: "Database") -> None:
    run_id, order_id = f"pg-{uuid.uuid4().hex[:10]}", _order_id()
    outcome = pivot.run(run_id, {"steps": [
        {"id": "line", "action": INSERT,
         "params": {"table": "pg_lines", "key": {"order_id": order_id, "line_no": 1}, "values": {"sku": "SKU-1"}}},
        {"id": "relabel", "action": UPDATE,
         "params": {"table": "pg_lines", "key": {"order_id": order_id, "line_no": 1},
                    "values": {"sku": {"$from": "line.row.sku"}}}},
    ]})
    assert outcome["status"] == "committed", outcome
    assert database.rows("SELECT sku FROM pg_lines WHERE order_id = %s", order_id) == [{"sku": "SKU-1"}]
