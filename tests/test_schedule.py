"""Which steps of a plan write together (`compensations/schedule.py`): the waves follow from the
plan alone, so these are plain checks of the rule; the stack tests (test_parallel_groups.py)
show the writes really in flight together, and survive a crash there."""

import dataclasses
from typing import Any

import pytest

from pivot.compensations.schedule import one_at_a_time, overlapping
from pivot.compensations.validation import validate_plan
from pivot.services.catalog import build_catalog
from pivot.services.local.demo import flagship_plan

CATALOG = build_catalog(approvers=["finance"])
CUSTOMER = "cus_Schedule0001"


def contact(step_id: str, email: str = "a@example.com", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "action": "hubspot.create_contact", "params": {"email": email}, **extra}


def account(step_id: str, name: str = "Acme", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "action": "salesforce.create_record",
            "params": {"sobject": "Account", "fields": {"Name": name}}, **extra}


def customer(step_id: str, email: Any = "c@example.com", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "action": "stripe.create_customer", "params": {"email": email}, **extra}


def invoice(step_id: str = "invoice", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "action": "stripe.create_invoice", "pivot": True,
            "params": {"customer": CUSTOMER, "lines": [{"amount": 100, "currency": "usd", "description": "x"}]},
            **extra}


def post(step_id: str = "notify", text: Any = "done") -> dict[str, Any]:
    return {"id": step_id, "action": "slack.post_message", "params": {"channel": "C024BE91L", "text": text}}


def waves(*steps: dict[str, Any]) -> list[list[str]]:
    plan = validate_plan({"steps": list(steps)}, CATALOG)
    return [[plan.steps[i].id for i in wave] for wave in overlapping(plan)]


def test_independent_steps_on_different_systems_write_together_and_the_pivot_waits_for_them() -> None:
    assert waves(contact("contact"), account("account"), customer("customer"), invoice(), post()) == [
        ["contact", "account", "customer"], ["invoice"], ["notify"]]


def test_the_flagship_is_unchanged_the_pivot_and_the_post_run_alone() -> None:
    plan = validate_plan(flagship_plan(), CATALOG)
    assert [[plan.steps[i].id for i in wave] for wave in overlapping(plan)] == [["contact"], ["invoice"], ["notify"]]


def test_a_step_that_could_be_the_pivot_runs_alone_so_it_never_happens_only_to_be_undone() -> None:
    """An order reserved first and charged second is never charged when the stock is short: a charge
    beside the reservation would be charged, then refunded, because the reservation failed."""
    charge = {"id": "charge", "action": "stripe.charge", "params": {
        "amount": 5000, "currency": "usd", "customer": CUSTOMER, "payment_method": "pm_card_visa"}}
    assert waves(contact("contact"), charge, account("account"), invoice()) == [
        ["contact"], ["charge"], ["account"], ["invoice"]]


def test_a_step_waits_for_the_step_it_references() -> None:
    uses_contact = customer("customer", {"$from": "contact.email"})
    assert waves(contact("contact"), uses_contact, account("account"), invoice()) == [
        ["contact", "account"], ["customer"], ["invoice"]]


def test_a_template_reference_is_a_dependency_too() -> None:
    named = account("account", name="x")
    named["params"]["fields"]["Name"] = {"$template": "Account of {contact.email}"}
    assert waves(contact("contact"), named, invoice()) == [["contact"], ["account"], ["invoice"]]


def test_two_steps_on_one_system_keep_their_order_even_without_a_reference() -> None:
    """An insert and an update of one row name the row by value, not by `$from`: the plan cannot
    show that dependency, so steps on one provider and connection never overlap by themselves."""
    assert waves(contact("first", "a@example.com"), contact("second", "b@example.com"), account("account"),
                 invoice()) == [["first", "account"], ["second"], ["invoice"]]


def test_another_connection_of_one_provider_is_another_system() -> None:
    catalog = dataclasses.replace(CATALOG, connections={"hubspot": frozenset({"eu"})})
    plan = validate_plan({"steps": [contact("us"), contact("eu", "b@example.com", connection="eu"), invoice()]},
                         catalog)
    assert [[plan.steps[i].id for i in wave] for wave in overlapping(plan)] == [["us", "eu"], ["invoice"]]


def test_a_gated_or_scheduled_step_runs_alone_between_the_others() -> None:
    gated = account("account", approval={"approvers": ["finance"]})
    assert waves(contact("contact"), gated, customer("customer"), invoice()) == [
        ["contact"], ["account"], ["customer"], ["invoice"]]
    scheduled = account("account", not_before="2026-12-31T09:00:00Z")
    assert waves(contact("contact"), scheduled, customer("customer"), invoice()) == [
        ["contact"], ["account"], ["customer"], ["invoice"]]


def test_an_explicit_group_stays_together_and_may_share_its_wave() -> None:
    assert waves(contact("a", group="crm"), contact("b", "b@example.com", group="crm"), account("account"),
                 invoice()) == [["a", "b", "account"], ["invoice"]]


def test_retryable_steps_after_the_pivot_overlap_and_noncompensable_ones_run_last_alone() -> None:
    refund = {"id": "refund", "action": "stripe.refund", "params": {"payment_intent": "pi_Schedule0001"}}
    upsert = {"id": "upsert", "action": "salesforce.upsert_record",
              "params": {"sobject": "Account", "external_id_field": "Ext__c", "external_id": "1",
                         "fields": {"Name": "x"}}}
    assert waves(contact("contact"), invoice(), refund, upsert, post()) == [
        ["contact"], ["invoice"], ["refund", "upsert"], ["notify"]]


@pytest.mark.parametrize("schedule", [overlapping, one_at_a_time])
def test_every_step_runs_exactly_once_and_after_what_it_references(schedule: Any) -> None:
    plan = validate_plan({"steps": [
        contact("contact"), customer("customer", {"$from": "contact.email"}), account("account"),
        invoice(), post(text={"$template": "{invoice.number} for {contact.email}"})]}, CATALOG)
    order = schedule(plan)
    assert sorted(i for wave in order for i in wave) == list(range(len(plan.steps)))
    wave_of = {plan.steps[i].id: n for n, wave in enumerate(order) for i in wave}
    assert wave_of["contact"] < wave_of["customer"] < wave_of["invoice"] < wave_of["notify"]
    assert wave_of["account"] < wave_of["invoice"]
