"""The engine's pure parts, offline: keys, plan validation rules, references, summaries."""

import hashlib

import pytest

from pivot.compensations.keys import StepKeys, compensation_key, forward_key
from pivot.compensations.kinds import StepKind
from pivot.compensations.references import ReferenceProblem, resolve
from pivot.compensations.validation import PlanRejected, validate_plan
from pivot.services.catalog import build_catalog
from pivot.services.local.demo import flagship_plan

CATALOG = build_catalog()


def test_keys_are_exactly_the_design_formula() -> None:
    expected = "pv1_" + hashlib.sha256(b"run-1\x1fcontact\x1fhubspot.create_contact").hexdigest()
    assert forward_key("run-1", "contact", "hubspot.create_contact") == expected
    expected_comp = "pv1_" + hashlib.sha256(
        b"run-1\x1fcontact\x1fhubspot.create_contact\x1fcompensate"
    ).hexdigest()
    assert compensation_key("run-1", "contact", "hubspot.create_contact") == expected_comp
    keys = StepKeys.derive("run-1", "contact", "hubspot.create_contact")
    assert keys.forward != keys.compensation and keys.sub("line0") == f"{keys.forward}:line0"


def test_keys_ignore_params() -> None:
    a = validate_plan(flagship_plan("a@example.com"), CATALOG)
    b = validate_plan(flagship_plan("b@example.com"), CATALOG)
    assert [StepKeys.derive("r", s.id, s.action) for s in a.steps] == [
        StepKeys.derive("r", s.id, s.action) for s in b.steps
    ]


def test_flagship_kinds_and_pivot() -> None:
    plan = validate_plan(flagship_plan(), CATALOG)
    assert plan.kinds == (StepKind.COMPENSABLE, StepKind.PIVOT, StepKind.NONCOMPENSABLE)
    assert plan.pivot_index == 1


def test_implied_pivot_is_last_compensable_step() -> None:
    raw = flagship_plan()
    del raw["steps"][1]["pivot"]
    plan = validate_plan(raw, CATALOG)
    assert plan.pivot_index == 1 and plan.kinds[1] is StepKind.PIVOT


def rules_of(raw: object) -> set[tuple[str | None, str]]:
    with pytest.raises(PlanRejected) as caught:
        validate_plan(raw, CATALOG)
    return {(v.step, v.rule) for v in caught.value.violations}


def test_noncompensable_before_pivot_is_rejected() -> None:
    raw = flagship_plan()
    raw["steps"] = [raw["steps"][2] | {"params": {"channel": "C024BE91L", "text": "hi"}}, *raw["steps"][:2]]
    assert ("notify", "before_pivot") in rules_of(raw)


def test_compensable_after_pivot_is_rejected() -> None:
    raw = flagship_plan()
    raw["steps"][0]["pivot"] = True
    del raw["steps"][1]["pivot"]
    found = rules_of(raw)
    assert ("contact", "pivot_eligible") in found and ("invoice", "after_pivot") in found


def test_all_violations_are_listed_at_once() -> None:
    raw = {"steps": [
        {"id": "a", "action": "slack.post_message", "params": {"channel": "C1AB", "text": {"$from": "b.number"}}},
        {"id": "b", "action": "stripe.create_invoice", "pivot": True,
         "params": {"customer": "cus_x1", "lines": [{"amount": 1, "currency": "usd", "description": "d"}]}},
        {"id": "c", "action": "stripe.create_invoice", "pivot": True,
         "params": {"customer": "cus_x1", "lines": [{"amount": -1, "currency": "usd", "description": "d"}]}},
        {"id": "d", "action": "unknown.thing"},
        {"id": "a", "action": "slack.post_message", "params": {"channel": "C1AB", "text": "x"}},
    ]}
    found = rules_of(raw)
    assert {("a", "before_pivot"), ("a", "reference_order"), ("c", "one_pivot"), ("c", "params"),
            ("d", "unknown_action"), ("a", "unique_ids")} <= found


def test_parallel_group_only_compensable() -> None:
    raw = flagship_plan()
    raw["steps"][1]["group"] = "g"
    raw["steps"][2]["group"] = "g"
    assert ("notify", "parallel_group") in rules_of(raw)


def test_bounds_are_enforced() -> None:
    raw = flagship_plan()
    raw["steps"][0]["params"]["firstname"] = "x" * 20_000
    assert ("contact", "size") in rules_of(raw)
    assert (None, "shape") in rules_of({"steps": [flagship_plan()["steps"][0]] * 51})
    assert (None, "shape") in rules_of({"steps": []})
    assert (None, "shape") in rules_of(["not", "an", "object"])


def test_template_rejects_format_specs() -> None:
    raw = flagship_plan()
    raw["steps"][2]["params"]["text"] = {"$template": "{n:>999999}", "n": {"$from": "invoice.number"}}
    assert ("notify", "reference") in rules_of(raw)


def test_references_resolve_from_verified_results_only() -> None:
    results = {"invoice": {"number": "INV-7", "lines": [{"amount": 5}]}}
    value = {"text": {"$template": "Invoice {n}", "n": {"$from": "invoice.number"}},
             "amount": {"$from": "invoice.lines.0.amount"}}
    assert resolve(value, results) == {"text": "Invoice INV-7", "amount": 5}
    with pytest.raises(ReferenceProblem, match=r"no field 'invoice\.total'"):
        resolve({"$from": "invoice.total"}, results)
