"""The Resend sandbox driven by the official `resend` SDK, unchanged: only `resend.api_url` points at
the sandbox. What the saga relies on is checked through the SDK's own types and exceptions: a send
and its read-back, the 24-hour idempotency (replay answers the first id and sends nothing; another
payload is a 409 `invalid_idempotent_request`), the list, errors in Resend's shape, and a 429 with
Resend's rate-limit headers. The ledger is the witness of what was really sent."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import resend
from resend.exceptions import RateLimitError, ResendError

from tests.sandbox.process import RESEND_KEY, running_sandboxes

SENDER = "Acme <orders@example.com>"


@pytest.fixture(scope="module")
def resend_url() -> Iterator[str]:
    with running_sandboxes(("resend",)) as handle:
        yield handle.urls["resend"]


@pytest.fixture
def sdk(resend_url: str) -> Iterator[None]:
    """The SDK's module-level configuration, pointed at a fresh sandbox, and restored afterwards."""
    httpx.post(f"{resend_url}/_sandbox/reset").raise_for_status()
    saved = resend.api_url, resend.api_key
    resend.api_url, resend.api_key = resend_url, RESEND_KEY
    try:
        yield
    finally:
        resend.api_url, resend.api_key = saved


def sent(url: str, key: str | None = None) -> list[dict[str, Any]]:
    params = {"op": "send"} | ({"key": key} if key else {})
    effects: list[dict[str, Any]] = httpx.get(f"{url}/_sandbox/ledger", params=params).json()["effects"]
    return effects


def email(subject: str = "Your order #1042", **extra: Any) -> Any:
    return {"from": SENDER, "to": ["ada@example.org"], "subject": subject, "text": "Thanks!", **extra}


def test_send_then_get_and_list(sdk: None, resend_url: str) -> None:
    first = resend.Emails.send(email(tags=[{"name": "pivot_key", "value": "pv1_abc"}]))
    got = resend.Emails.get(first["id"])
    assert got["object"] == "email" and got["id"] == first["id"]
    assert got["to"] == ["ada@example.org"] and got["from"] == SENDER and got["subject"] == "Your order #1042"
    assert got["last_event"] == "delivered" and got["created_at"].endswith("+00")
    assert "tags" not in got  # Resend's read returns no tags (they reach webhooks only)
    second = resend.Emails.send(email("Shipped"))
    listed = resend.Emails.list({"limit": 1})
    assert listed["object"] == "list" and listed["has_more"] is True
    assert [e["id"] for e in listed["data"]] == [second["id"]]
    older = resend.Emails.list({"limit": 1, "after": second["id"]})
    assert [e["id"] for e in older["data"]] == [first["id"]] and older["has_more"] is False
    assert [e["detail"]["tags"] for e in sent(resend_url)] == [{"pivot_key": "pv1_abc"}, {}]


def test_idempotency_replay_and_mismatch(sdk: None, resend_url: str) -> None:
    first = resend.Emails.send(email(), {"idempotency_key": "order-1042"})
    again = resend.Emails.send(email(), {"idempotency_key": "order-1042"})
    assert again["id"] == first["id"]
    assert len(sent(resend_url, "order-1042")) == 1
    with pytest.raises(ResendError) as mismatch:
        resend.Emails.send(email("Another subject"), {"idempotency_key": "order-1042"})
    assert mismatch.value.code == 409 and mismatch.value.error_type == "invalid_idempotent_request"
    with pytest.raises(ResendError) as too_long:
        resend.Emails.send(email(), {"idempotency_key": "k" * 257})
    assert too_long.value.code == 400 and too_long.value.error_type == "invalid_idempotency_key"
    # Past Resend's 24 hours the key is forgotten: the same request is a new send.
    httpx.post(f"{resend_url}/_sandbox/idempotency/expire").raise_for_status()
    later = resend.Emails.send(email(), {"idempotency_key": "order-1042"})
    assert later["id"] != first["id"] and len(sent(resend_url, "order-1042")) == 2


def test_errors_in_resends_shape(sdk: None, resend_url: str) -> None:
    with pytest.raises(ResendError) as missing:
        resend.Emails.send({"from": SENDER, "to": ["ada@example.org"], "text": "no subject"})  # type: ignore[typeddict-item]
    assert missing.value.code == 422 and missing.value.error_type == "missing_required_field"
    with pytest.raises(ResendError) as unverified:
        resend.Emails.send(email() | {"from": "Eve <eve@unverified.example>"})
    assert unverified.value.code == 403 and "not verified" in unverified.value.message
    with pytest.raises(ResendError) as unknown:
        resend.Emails.get("4ef9a417-02e9-4d39-ad75-9611e0fcc33c")
    assert unknown.value.code == 404 and unknown.value.error_type == "not_found"
    resend.api_key = "re_notAKeyTheSandboxKnows_000"
    with pytest.raises(ResendError) as refused:
        resend.Emails.send(email())
    assert refused.value.code == 403 and refused.value.error_type == "invalid_api_key"
    assert sent(resend_url) == []


def test_rate_limit_and_faults_speak_resend(sdk: None, resend_url: str) -> None:
    rule = {"method": "POST", "path": "/emails", "action": "rate_limit", "retry_after": 1, "times": 1}
    httpx.post(f"{resend_url}/_sandbox/faults", json=rule).raise_for_status()
    with pytest.raises(RateLimitError) as limited:
        resend.Emails.send(email(), {"idempotency_key": "k-429"})
    assert limited.value.error_type == "rate_limit_exceeded"
    headers = {k.lower(): v for k, v in limited.value.headers.items()}
    assert headers["retry-after"] == "1" and headers["ratelimit-remaining"] == "0"
    assert headers["ratelimit-limit"] == "2" and "ratelimit-reset" in headers
    ok = resend.Emails.send(email(), {"idempotency_key": "k-429"})
    assert ok["http_headers"]["ratelimit-limit"] == "2"
    assert len(sent(resend_url, "k-429")) == 1


def test_commit_then_timeout_sends_once_and_the_replay_finds_it(resend_url: str) -> None:
    """The fault the action's lookup exists for: Resend sent it, the answer was lost."""
    httpx.post(f"{resend_url}/_sandbox/reset").raise_for_status()
    rule = {"method": "POST", "path": "/emails", "action": "commit_then_timeout", "hang_s": 5, "times": 1}
    httpx.post(f"{resend_url}/_sandbox/faults", json=rule).raise_for_status()
    headers = {"Authorization": f"Bearer {RESEND_KEY}", "Idempotency-Key": "lost-answer"}
    with httpx.Client(base_url=resend_url, headers=headers, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/emails", json=email())
        replay = client.post("/emails", json=email(), timeout=5)
    assert replay.status_code == 200
    effects = sent(resend_url, "lost-answer")
    assert len(effects) == 1 and effects[0]["id"] == replay.json()["id"]


def test_sending_only_key_is_refused_reads(sdk: None, resend_url: str) -> None:
    httpx.post(f"{resend_url}/_sandbox/tokens", json={"token": "re_sendingOnlyKey_000000", "scopes": ["sending"]})
    resend.api_key = "re_sendingOnlyKey_000000"
    sent_id = resend.Emails.send(email())["id"]
    with pytest.raises(ResendError) as restricted:
        resend.Emails.get(sent_id)
    assert restricted.value.code == 401 and restricted.value.error_type == "restricted_api_key"
