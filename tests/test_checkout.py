"""The checkout saga (pivot.services.local.checkout) on the real stack: reserve inventory (Shopify),
charge (Stripe), record the order with its outbox event (a real PostgreSQL), fulfil (Shopify, the
pivot), email (Resend, last). Clean, it commits each effect once and sends the email after every
other effect; with a real-world failure at each step in turn it ends compensated — every effect
undone, never an email — or, past the pivot, completed by retries with one email. Audited on
every sandbox's ledger and on the database itself."""

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from examples.checkout import open_saga_agent, plan_agent
from pivot.compensations.keys import compensation_key, forward_key
from pivot.services.cli import main
from pivot.services.client import PivotClient
from pivot.services.local.checkout import (
    FAILURES,
    Failure,
    PlacedOrder,
    Shop,
    checkout_plan,
    checkout_steps,
    clear_shop_faults,
    ensure_orders_table,
)
from pivot.services.local.stack import LOCAL_CREDENTIALS, Stack
from tests.postgres_fixtures import Database
from tests.sandboxes import Sandboxes


@pytest.fixture(scope="module")
def shop(stack: Stack) -> Shop:
    found = Shop(stack.ingress_url, dict(stack.sandbox_urls), LOCAL_CREDENTIALS["SHOPIFY_ACCESS_TOKEN"],
                 stack.postgres.dsn)
    ensure_orders_table(found.dsn)
    return found


@pytest.fixture(scope="module")
def db(shop: Shop) -> Iterator[Database]:
    database = Database(shop.dsn)
    yield database
    database.close()


@dataclass
class Run:
    run_id: str
    order: PlacedOrder
    outcome: dict[str, Any]


def checkout(pivot: PivotClient, shop: Shop, label: str, failure: Failure | None = None) -> Run:
    order = shop.storefront().place(f"{label}@example.com")
    try:
        options = failure.arrange(shop, order) if failure else {}
        run_id = f"checkout-{label}"
        return Run(run_id, order, pivot.run(run_id, checkout_plan(order, **options)))
    finally:
        clear_shop_faults(shop)


RUNS = itertools.count(1)


def unique() -> str:
    """A label part no other run of the sandboxes' lifetime has (run ids and emails are keys)."""
    return f"{next(RUNS)}-{uuid.uuid4().hex[:8]}"


ACTIONS = {step["id"]: step["action"] for step in checkout_steps(PlacedOrder("o", "#1", "f", "e@example.com"))}


def effects(sandboxes: Sandboxes, provider: str, run: Run, step: str, *, undo: bool = False) -> list[tuple[str, str]]:
    """(op, object) of the step's effects (or its undo's) in the provider's ledger, less the
    bookkeeping (Shopify's step records, metafields, carry the key too)."""
    key = (compensation_key if undo else forward_key)(run.run_id, step, ACTIONS[step])
    return [(e["op"], e["object"]) for e in sandboxes.ledger(provider)
            if (e.get("idempotency_key") or "").startswith(key) and e["object"] != "metafield"]


def emails_to(sandboxes: Sandboxes, address: str) -> list[dict[str, Any]]:
    return [e for e in sandboxes.ledger("resend") if address in e["detail"].get("to", [])]


def test_the_checkout_commits_each_effect_once_and_the_email_last(
        pivot: PivotClient, shop: Shop, db: Database, sandboxes: Sandboxes) -> None:
    run = checkout(pivot, shop, f"clean-{unique()}")
    assert run.outcome["status"] == "committed", run.outcome["summary"]
    assert effects(sandboxes, "shopify", run, "reserve") == [("move", "inventory")]
    assert effects(sandboxes, "stripe", run, "charge") == [("create", "payment_intent"), ("confirm", "payment_intent")]
    assert effects(sandboxes, "shopify", run, "fulfil") == [("fulfill", "order")]
    [email] = emails_to(sandboxes, run.order.email)
    assert email["idempotency_key"] == forward_key(run.run_id, "email", "resend.send_email")
    record = db.one("SELECT * FROM orders WHERE id = %s", run.order.record_id)
    charge = next(s for s in run.outcome["steps"] if s["id"] == "charge")
    assert record is not None and record["payment"] == charge["result"]["id"] and record["status"] == "paid"
    record_key = forward_key(run.run_id, "record", "postgres.insert_record")
    assert [e["topic"] for e in db.outbox(record_key)] == ["order.placed"]
    # The email went out after every other effect: the last sandbox effect of this run is the send.
    others = [e["at"] for provider in ("shopify", "stripe") for e in sandboxes.ledger(provider)
              if (e.get("idempotency_key") or "").startswith(tuple(forward_key(run.run_id, step, ACTIONS[step])
                                                                  for step in ("reserve", "charge", "fulfil")))]
    [step_row] = db.steps(record_key)
    assert email["at"] > max(others) and email["at"] > step_row["created_at"].isoformat()


@pytest.mark.parametrize("failure", FAILURES, ids=[failure.step for failure in FAILURES])
def test_a_failure_at_each_step_undoes_what_took_effect_and_never_emails_a_failed_order(
        failure: Failure, pivot: PivotClient, shop: Shop, db: Database, sandboxes: Sandboxes) -> None:
    run = checkout(pivot, shop, f"fail-{failure.step}-{unique()}", failure)
    steps = {s["id"]: s for s in run.outcome["steps"]}
    if failure.step == "email":  # past the pivot: retried until it is sent, once
        assert run.outcome["status"] == "committed", run.outcome["summary"]
        assert len(emails_to(sandboxes, run.order.email)) == 1
        return
    assert run.outcome["status"] == "compensated", run.outcome["summary"]
    failed = steps[failure.step]  # failed, or compensated when it left something to undo (a declined intent)
    assert failed["error"] and failed["state"] in {"failed", "compensated"} and steps["email"]["state"] == "not_run"
    assert emails_to(sandboxes, run.order.email) == []  # never an email for a failed order
    order = ["reserve", "charge", "record", "fulfil"]
    took_effect = order[:order.index(failure.step)]
    moves = effects(sandboxes, "shopify", run, "reserve")
    released = effects(sandboxes, "shopify", run, "reserve", undo=True)
    assert (moves, released) == (([("move", "inventory")],) * 2 if "reserve" in took_effect else ([], []))
    refunds = effects(sandboxes, "stripe", run, "charge", undo=True).count(("create", "refund"))
    assert refunds == (1 if "charge" in took_effect else 0)
    record = db.one("SELECT * FROM orders WHERE id = %s", run.order.record_id)
    if failure.step == "record":
        assert record is not None and record["status"] == "imported"  # the other process's row, untouched
    else:
        assert record is None  # never written, or deleted by the undo
    record_key = forward_key(run.run_id, "record", "postgres.insert_record")
    undo_key = compensation_key(run.run_id, "record", "postgres.insert_record")
    topics = [e["topic"] for e in db.outbox(record_key, undo_key)]
    assert topics == (["order.placed", "order.placed.undone"] if "record" in took_effect else [])
    assert effects(sandboxes, "shopify", run, "fulfil", undo=True) == []  # the pivot never took effect




def test_pivot_demo_checkout_prints_each_runs_verified_outcome(
        stack: Stack, shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`pivot demo --checkout` on the running stack (found through its stack.json): six runs, each
    ending as the seed says it must."""
    monkeypatch.setenv("PIVOT_STATE_DIR", str(stack.state_dir))
    assert main(["demo", "--checkout"]) == 0
    shown = re.findall(r"checkout-\d{8}-\d{6}-(\w+)\s+(committed|compensated|needs_attention)", capsys.readouterr().out)
    assert shown == [("clean", "committed"), ("reserve", "compensated"), ("charge", "compensated"),
                     ("record", "compensated"), ("fulfil", "compensated"), ("email", "committed")]


def test_the_example_agents_check_out_as_a_plan_and_as_an_open_saga(
        pivot: PivotClient, shop: Shop, sandboxes: Sandboxes) -> None:
    """examples/checkout: the plan and the tool-calling agent end the same, the email sent once, last."""
    for agent, label in ((plan_agent, "plan"), (open_saga_agent, "open")):
        order = shop.storefront().place(f"example-{label}-{unique()}@example.com")
        run = Run(f"checkout-example-{label}-{unique()}", order, {})
        run.outcome = agent.run_task(pivot, order, run.run_id)
        assert run.outcome["status"] == "committed", run.outcome["summary"]
        [email] = emails_to(sandboxes, order.email)
        fulfil_key = forward_key(run.run_id, "fulfil", "shopify.create_fulfillment")
        [shipped] = [e for e in sandboxes.ledger("shopify")
                     if e["op"] == "fulfill" and e["idempotency_key"] == fulfil_key]
        assert email["at"] > shipped["at"]  # asked for first by the open saga's agent, sent last
