"""The conformance proxy between a client and a real upstream (the HubSpot sandbox, in its own
process; an https echo server under hypercorn): each fault does what it says — not forwarded, or
forwarded and the answer lost, held or rewritten — as the sandbox's ledger and the client see it;
rules count occurrences; the log keeps what was sent, with the credential redacted."""

import concurrent.futures
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pivot.services.conformance.proxy import (
    DropAnswer,
    FaultProxy,
    HoldAnswer,
    Reset,
    Rewrite,
    Rule,
    Sent,
    rate_limited,
    server_error,
)
from pivot.services.local.processes import free_port, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT
from tests.sandbox.process import HUBSPOT_TOKEN, OneSandbox, running_sandbox
from tests.tls import self_signed

CONTACTS = "/crm/v3/objects/contacts"
AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}


@pytest.fixture(scope="module")
def hubspot() -> Iterator[OneSandbox]:
    with running_sandbox("hubspot") as sandbox:
        yield sandbox


@pytest.fixture
def proxy(hubspot: OneSandbox) -> Iterator[FaultProxy]:
    with FaultProxy(hubspot.url, secrets=[HUBSPOT_TOKEN]) as running:
        yield running


def ledger_keys(hubspot: OneSandbox) -> list[str]:
    effects = httpx.get(f"{hubspot.url}/_sandbox/ledger").json()["effects"]
    return [str(effect.get("idempotency_key")) for effect in effects]


def create(proxy: FaultProxy, key: str, firstname: str = "Ada") -> httpx.Response:
    body = {"properties": {"email": f"{key}@example.com", "firstname": firstname, "pivot_key": key}}
    return httpx.post(f"{proxy.url}{CONTACTS}", json=body, headers=AUTH, timeout=10)


def new_key() -> str:
    return f"pv1_{uuid.uuid4().hex}"


def test_pass_forwards_and_logs_what_was_sent_without_the_credential(proxy: FaultProxy, hubspot: OneSandbox) -> None:
    key = new_key()
    answer = create(proxy, key)
    assert answer.status_code == 201 and answer.json()["properties"]["pivot_key"] == key
    assert key in ledger_keys(hubspot)
    [exchange] = proxy.log()
    assert (exchange.request.method, exchange.request.path, exchange.fault) == ("POST", CONTACTS, "pass")
    assert exchange.forwarded and exchange.upstream_status == exchange.answered_status == 201
    assert exchange.request.json()["properties"]["pivot_key"] == key
    assert exchange.request.header("authorization") == "Bearer [redacted]"
    assert HUBSPOT_TOKEN not in str([e.to_json() for e in proxy.log()])


def test_a_credential_in_a_body_or_query_is_redacted_too(proxy: FaultProxy) -> None:
    httpx.post(f"{proxy.url}/oauth/v2/private-apps/get/access-token-info?token={HUBSPOT_TOKEN}",
               json={"tokenKey": HUBSPOT_TOKEN}, headers=AUTH, timeout=10)
    [exchange] = proxy.log()
    assert HUBSPOT_TOKEN not in str(exchange.to_json())
    assert "[redacted]" in exchange.request.body and "[redacted]" in exchange.request.query


def test_an_error_answer_is_not_forwarded(proxy: FaultProxy, hubspot: OneSandbox) -> None:
    proxy.add(Rule(rate_limited(2), method="POST", path=f"^{CONTACTS}$"))
    key = new_key()
    limited = create(proxy, key)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert key not in ledger_keys(hubspot)
    assert create(proxy, key).status_code == 201  # the rule covered one occurrence
    first, second = proxy.log()
    assert (first.fault, first.forwarded, first.answered_status) == ("answer", False, 429)
    assert (second.fault, second.forwarded) == ("pass", True)


def test_a_reset_before_forwarding_reaches_nothing(proxy: FaultProxy, hubspot: OneSandbox) -> None:
    proxy.add(Rule(Reset(), method="POST"))
    key = new_key()
    with pytest.raises(httpx.TransportError):
        create(proxy, key)
    assert key not in ledger_keys(hubspot)
    [exchange] = proxy.log()
    assert (exchange.fault, exchange.forwarded, exchange.answered_status) == ("reset", False, None)


def test_a_dropped_answer_was_committed_by_the_provider(proxy: FaultProxy, hubspot: OneSandbox) -> None:
    proxy.add(Rule(DropAnswer(), method="POST"))
    key = new_key()
    with pytest.raises(httpx.TransportError):
        create(proxy, key)
    assert key in ledger_keys(hubspot)  # the provider committed; only the answer was lost
    [exchange] = proxy.log()
    assert (exchange.fault, exchange.forwarded, exchange.upstream_status, exchange.answered_status) == (
        "drop", True, 201, None)


def test_a_dropped_answer_may_hang_until_the_client_gives_up(proxy: FaultProxy, hubspot: OneSandbox) -> None:
    proxy.add(Rule(DropAnswer(hang_s=1.5), method="POST"))
    key = new_key()
    with pytest.raises(httpx.ReadTimeout):
        body = {"properties": {"email": f"{key}@example.com", "pivot_key": key}}
        httpx.post(f"{proxy.url}{CONTACTS}", json=body, headers=AUTH, timeout=0.5)
    assert key in ledger_keys(hubspot)


def test_a_held_answer_waits_for_release(proxy: FaultProxy, hubspot: OneSandbox) -> None:
    proxy.add(Rule(HoldAnswer(), method="POST"))
    key = new_key()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(create, proxy, key)
        held = proxy.wait_held(timeout_s=10)
        assert held.request.path == CONTACTS and held.forwarded and held.answered_status is None
        assert key in ledger_keys(hubspot) and not pending.done()  # committed, answer not yet sent
        proxy.release()
        assert pending.result(timeout=10).status_code == 201
    assert proxy.log()[0].answered_status == 201


def test_a_rewrite_changes_values_in_the_answer_only(proxy: FaultProxy, hubspot: OneSandbox) -> None:
    key = new_key()
    created = create(proxy, key, firstname="Ada").json()
    proxy.add(Rule(Rewrite({"Ada": "Mallory", False: True}), method="GET", times=None))
    read = httpx.get(f"{proxy.url}{CONTACTS}/{created['id']}", params={"properties": "firstname"}, headers=AUTH,
                     timeout=10).json()
    assert read["properties"]["firstname"] == "Mallory" and read["archived"] is True
    assert read["id"] == created["id"]  # other values as the provider said
    direct = httpx.get(f"{hubspot.url}{CONTACTS}/{created['id']}", params={"properties": "firstname"},
                       headers=AUTH, timeout=10).json()
    assert direct["properties"]["firstname"] == "Ada"


def test_rules_count_occurrences_of_what_they_match(proxy: FaultProxy) -> None:
    keys = [new_key() for _ in range(4)]

    def carries_third_or_fourth(sent: Sent) -> bool:
        return any(key in sent.body for key in keys[2:])

    proxy.add(Rule(server_error(503), method="POST", path=f"^{CONTACTS}$", nth=2, times=1, name="second create"))
    proxy.add(Rule(server_error(500), when=carries_third_or_fourth, nth=2, times=None, name="by key"))
    statuses = [create(proxy, key).status_code for key in keys]
    assert statuses == [201, 503, 201, 500]
    assert [e.rule for e in proxy.log()] == [None, "second create", None, "by key"]
    assert httpx.get(f"{proxy.url}{CONTACTS}", headers=AUTH, timeout=10).status_code == 200  # GET: no rule


def test_wait_for_sees_the_log_grow(proxy: FaultProxy) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(create, proxy, new_key())
        log = proxy.wait_for(lambda log: any(e.answered_status == 201 for e in log), timeout_s=10)
    assert log[0].request.method == "POST"
    with pytest.raises(TimeoutError):
        proxy.wait_for(lambda log: len(log) > 5, timeout_s=0.2)


@pytest.fixture(scope="module")
def https_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-w", "0", "--bind", f"127.0.0.1:{port}", "--certfile", str(cert),
         "--keyfile", str(key), "tests.conformance.echo_app:app"],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=cert)
    try:
        wait_until(lambda: httpx.get(f"{url}/ready", verify=context, timeout=1).status_code == 200, timeout_s=20,
                   what="the https echo server")
        yield url, cert
    finally:
        server.kill()
        server.wait()


def test_an_https_upstream(https_upstream: tuple[str, Path]) -> None:
    url, cert = https_upstream
    with FaultProxy(url, verify=ssl.create_default_context(cafile=cert)) as tls:
        answer: Any = httpx.post(f"{tls.url}/v1/things?a=1", content=b"x=1", timeout=10).json()
    assert answer == {"method": "POST", "path": "/v1/things", "query": "a=1", "body": "x=1", "scheme": "https"}
