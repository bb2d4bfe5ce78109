"""How conformance tells the write from the reads (the key where the action declares it; for a key
no request shows, the write's shape) and where it points each provider — pure functions, no stack."""

import json

import pytest

from pivot.services.conformance.carrier import AfterWrite, KeyInWrite, WriteShape, carries, is_write
from pivot.services.conformance.proxy import Sent
from pivot.services.conformance.targets import NoTarget, judge_environment, resolve, service_environment

KEY = "pv1_" + "ab" * 32


def sent(method: str, path: str, *, body: object = "", query: str = "", headers: dict[str, str] | None = None) -> Sent:
    text = body if isinstance(body, str) else json.dumps(body)
    return Sent(method, path, query, tuple((headers or {}).items()), text)


@pytest.mark.parametrize(("request_", "where", "name"), [
    (sent("POST", "/v1/invoices", headers={"Idempotency-Key": KEY}), "header", "idempotency-key"),
    (sent("POST", "/v1/invoices", body=f"metadata%5Bpivot_key%5D={KEY}&amount=1"), "form", "metadata[pivot_key]"),
    (sent("POST", "/crm", body={"properties": {"pivot_key": KEY}}), "json", "properties.pivot_key"),
    (sent("POST", "/batch", body={"inputs": [{"properties": {"pivot_key": f"{KEY}:0"}},
                                             {"properties": {"pivot_key": f"{KEY}:1"}}]}),
     "json", "inputs[].properties.pivot_key"),
    (sent("POST", "/c", body={"records": [{"Key__c": f"{KEY}:0"}]}), "json", "records[0].Key__c"),
    (sent("POST", "/gql", body={"query": "mutation M { x }", "variables": {"note": f"pivot {KEY}"}}),
     "json", "variables.note"),
    (sent("PATCH", f"/sobjects/Contact/Pivot_Key__c/{KEY}"), "path", "Pivot_Key__c"),
    (sent("POST", "/things", query=f"key={KEY}"), "query", "key"),
])
def test_a_write_carries_the_key_where_declared(request_: Sent, where: str, name: str) -> None:
    assert carries(request_, where, name, KEY)
    assert KeyInWrite(where, name, KEY)(request_)
    assert not carries(request_, where, name, "pv1_other")
    assert not carries(request_, "stored", name, KEY)  # a stored carrier is on no request


def test_reads_are_not_writes_even_when_they_post() -> None:
    lookup = sent("GET", f"/crm/v3/objects/contacts/{KEY}", query="idProperty=pivot_key")
    assert not is_write(lookup) and not KeyInWrite("path", "id", KEY)(lookup)
    assert not is_write(sent("POST", "/crm/v3/objects/contacts/batch/read", body={"inputs": []}))
    assert not is_write(sent("POST", "/crm/v3/objects/deals/search", body={"filterGroups": []}))
    assert not is_write(sent("POST", "/graphql.json", body={"query": "query Q { shop { name } }"}))
    assert not is_write(sent("POST", "/graphql.json", body={"query": "{ shop { name } }"}))
    cancel = "mutation Cancel($id: ID!) { orderCancel(x: 1) { a } }"
    assert is_write(sent("POST", "/graphql.json", body={"query": cancel}))
    assert is_write(sent("DELETE", "/crm/v3/objects/contacts/12"))


def test_a_write_no_key_shows_is_told_by_its_shape() -> None:
    shape = WriteShape(sent("PATCH", "/services/data/v60.0/sobjects/Account/0015g000000CaROAA0", body={"a": 1}))
    assert shape(sent("PATCH", "/services/data/v60.0/sobjects/Account/0015g000000XyZAAA1", body={"b": 2}))
    assert not shape(sent("PATCH", "/services/data/v60.0/sobjects/Contact/0035g000000XyZAAA1"))
    assert not shape(sent("GET", "/services/data/v60.0/sobjects/Account/0015g000000XyZAAA1"))
    complete = WriteShape(sent("POST", "/gql", body={"query": "mutation C { draftOrderComplete(id: 1) { a } }"}))
    assert complete(sent("POST", "/gql", body={"query": "mutation C { draftOrderComplete(id: 2) { a } }"}))
    assert not complete(sent("POST", "/gql", body={"query": "mutation X { orderCancel(id: 2) { a } }"}))
    assert str(complete) == "POST /gql (draftOrderComplete)"


def test_the_read_back_is_what_follows_the_write() -> None:
    after = AfterWrite(KeyInWrite("header", "Idempotency-Key", KEY))
    seen = [after(r) for r in (sent("GET", "/before"), sent("POST", "/w", headers={"Idempotency-Key": KEY}),
                               sent("GET", "/after"), sent("GET", "/again"))]
    assert seen == [False, False, True, True]


def test_targets_sandbox_base_url_or_connection() -> None:
    sandboxes = {"stripe": "http://127.0.0.1:9101"}
    assert resolve("stripe", "default", sandboxes, {}).sandbox
    real = resolve("stripe", "default", sandboxes, {"PIVOT_STRIPE_BASE_URL": "https://api.stripe.com/"})
    assert (real.url, real.sandbox) == ("https://api.stripe.com", False)
    with pytest.raises(NoTarget, match="PIVOT_CONTACTS_BASE_URL"):
        resolve("contacts", "default", sandboxes, {})
    env = {"PIVOT_CONNECTION__STRIPE__EU__BASE_URL": "https://eu.example", "PIVOT_CONNECTION__STRIPE__EU__CREDENTIAL":
           "sk_test_eu_0123456789"}
    eu = resolve("stripe", "eu", sandboxes, env)
    assert (eu.url, eu.base_url_env()) == ("https://eu.example", "PIVOT_CONNECTION__STRIPE__EU__BASE_URL")
    with pytest.raises(NoTarget, match="no connection 'us'"):
        resolve("stripe", "us", sandboxes, env)

    service = service_environment({"stripe": eu}, {"stripe": "http://127.0.0.1:5000"}, env)
    assert service == {"PIVOT_CONNECTION__STRIPE__EU__BASE_URL": "http://127.0.0.1:5000",  # through the proxy
                       "PIVOT_CONNECTION__STRIPE__EU__CREDENTIAL": "sk_test_eu_0123456789"}
    assert judge_environment({"stripe": eu}) == {}  # the judge reads the connection as configured
    service = service_environment({"stripe": real}, {"stripe": "http://127.0.0.1:5000"},
                                  {"STRIPE_API_KEY": "sk_test_real_0123456789", "PIVOT_STRIPE_BASE_URL": "x"})
    assert service == {"PIVOT_STRIPE_BASE_URL": "http://127.0.0.1:5000", "STRIPE_API_KEY": "sk_test_real_0123456789"}
