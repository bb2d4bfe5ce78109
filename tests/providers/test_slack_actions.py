"""The Slack catalog actions against the Slack sandbox: post_message and its on_undo policies,
update_message and its conditional restore, and Slack's error classification."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pivot.compensations.actions import Action, CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind
from pivot.providers.slack.actions import slack_actions
from pivot.providers.slack.client import SlackClient
from tests.providers.step_keys import new_keys

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]



CHANNEL = "C024BE91L"


class Catalog:
    def __init__(self, client: SlackClient):
        self.actions: dict[str, Action] = {action.name: action for action in slack_actions(client)}

    async def forward(self, name: str, params: dict[str, Any], keys: StepKeys) -> JsonDict:
        action = self.actions[name]
        return await action.forward(action.params.model_validate(params), keys)

    async def compensate(self, name: str, params: dict[str, Any], keys: StepKeys,
                         result: JsonDict | None) -> CompensationReport:
        action = self.actions[name]
        assert action.compensate is not None
        return await action.compensate(action.params.model_validate(params), keys, result)


@pytest.fixture
def slack(slack_client: SlackClient) -> Catalog:
    return Catalog(slack_client)


def messages(sandbox: Boxes, thread_ts: str | None = None) -> list[dict[str, Any]]:
    method = "conversations.replies" if thread_ts else "conversations.history"
    params: dict[str, Any] = {"channel": CHANNEL, "limit": 999, "include_all_metadata": "true"}
    if thread_ts:
        params["ts"] = thread_ts
    body = sandbox.slack.raw.get(f"/api/{method}", params=params).json()
    assert body["ok"], body
    return list(body["messages"])


def post_directly(sandbox: Boxes, text: str, **extra: Any) -> str:
    body = sandbox.slack.raw.post("/api/chat.postMessage", json={"channel": CHANNEL, "text": text, **extra}).json()
    assert body["ok"], body
    return str(body["ts"])


async def test_post_message_stays_noncompensable_but_carries_an_undo(slack: Catalog) -> None:
    post = slack.actions["slack.post_message"]
    assert post.kind is StepKind.NONCOMPENSABLE and post.compensate is not None
    assert post.params.model_validate({"channel": CHANNEL, "text": "hi"}).model_dump()["on_undo"] == "none"
    update = slack.actions["slack.update_message"]
    assert update.kind is StepKind.COMPENSABLE and not update.pivot_eligible


# --------------------------------------------------------------------------- post_message


async def test_post_after_a_lost_answer_is_found_not_sent_twice(slack: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("slack.post_message")
    params = {"channel": CHANNEL, "text": "Invoice 42 is on its way"}
    sandbox.slack.lost_answer("POST", "/api/chat.postMessage")
    with pytest.raises(ProviderUnavailable):
        await slack.forward("slack.post_message", params, keys)

    result = await slack.forward("slack.post_message", params, keys)

    assert result["text"] == "Invoice 42 is on its way"
    assert [e["id"] for e in sandbox.slack.effects(op="send")] == [result["ts"]]


async def test_a_thread_reply_is_looked_up_in_its_thread(slack: Catalog, sandbox: Boxes) -> None:
    parent = post_directly(sandbox, "Deploy thread")
    keys = new_keys("slack.post_message")
    params = {"channel": CHANNEL, "text": "Deployed", "thread_ts": parent}
    sandbox.slack.lost_answer("POST", "/api/chat.postMessage")
    with pytest.raises(ProviderUnavailable):
        await slack.forward("slack.post_message", params, keys)

    result = await slack.forward("slack.post_message", params, keys)

    replies = [m for m in messages(sandbox, parent) if m["ts"] != parent]
    assert [m["ts"] for m in replies] == [result["ts"]]


async def test_undo_policy_none_leaves_the_message(slack: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("slack.post_message")
    params = {"channel": CHANNEL, "text": "stays"}
    result = await slack.forward("slack.post_message", params, keys)

    report = await slack.compensate("slack.post_message", params, keys, result)

    assert report.state == "nothing_to_undo" and "'none'" in report.detail
    assert [m["text"] for m in messages(sandbox)] == ["stays"]


async def test_undo_policy_correct_posts_one_threaded_correction(slack: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("slack.post_message")
    params = {"channel": CHANNEL, "text": "Invoice 42 is paid", "on_undo": "correct",
              "correction": "Correction: invoice 42 was voided."}
    result = await slack.forward("slack.post_message", params, keys)

    first = await slack.compensate("slack.post_message", params, keys, result)
    rerun = await slack.compensate("slack.post_message", params, keys, None)

    assert (first.state, rerun.state) == ("compensated", "compensated")
    replies = [m for m in messages(sandbox, result["ts"]) if m["ts"] != result["ts"]]
    assert [m["text"] for m in replies] == ["Correction: invoice 42 was voided."]
    assert replies[0]["metadata"]["event_payload"]["pivot_key"] == keys.compensation
    assert [m["text"] for m in messages(sandbox)] == ["Invoice 42 is paid"]  # the original stays


async def test_undo_policy_delete_deletes_once(slack: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("slack.post_message")
    params = {"channel": CHANNEL, "text": "oops", "on_undo": "delete"}
    result = await slack.forward("slack.post_message", params, keys)

    first = await slack.compensate("slack.post_message", params, keys, None)
    rerun = await slack.compensate("slack.post_message", params, keys, result)

    assert (first.state, rerun.state) == ("compensated", "compensated") and "already gone" in rerun.detail
    assert messages(sandbox) == []
    assert [e["id"] for e in sandbox.slack.effects(op="delete")] == [result["ts"]]


# --------------------------------------------------------------------------- update_message


async def test_update_then_restore_and_a_rerun_writes_nothing(slack: Catalog, sandbox: Boxes) -> None:
    ts = post_directly(sandbox, "Launch at 10:00",
                       metadata={"event_type": "pivot_saga_step", "event_payload": {"pivot_key": "pv1_post"}})
    keys = new_keys("slack.update_message")
    params = {"channel": CHANNEL, "ts": ts, "text": "Launch at 11:00"}

    result = await slack.forward("slack.update_message", params, keys)
    assert (result["before"], result["text"]) == ("Launch at 10:00", "Launch at 11:00")
    payload = messages(sandbox)[0]["metadata"]["event_payload"]
    assert payload["pivot_key"] == "pv1_post"  # the post's own key survives the update's stamp

    first = await slack.compensate("slack.update_message", params, keys, result)
    rerun = await slack.compensate("slack.update_message", params, keys, None)

    assert (first.state, rerun.state) == ("compensated", "compensated")
    assert [m["text"] for m in messages(sandbox)] == ["Launch at 10:00"]
    assert len(sandbox.slack.effects(op="update")) == 2


async def test_a_lost_update_answer_keeps_the_previous_text(slack: Catalog, sandbox: Boxes) -> None:
    ts = post_directly(sandbox, "v1")
    keys = new_keys("slack.update_message")
    params = {"channel": CHANNEL, "ts": ts, "text": "v2"}
    sandbox.slack.lost_answer("POST", "/api/chat.update")
    with pytest.raises(ProviderUnavailable):
        await slack.forward("slack.update_message", params, keys)

    result = await slack.forward("slack.update_message", params, keys)

    assert result["before"] == "v1" and len(sandbox.slack.effects(op="update")) == 1
    await slack.compensate("slack.update_message", params, keys, result)
    assert [m["text"] for m in messages(sandbox)] == ["v1"]


async def test_restore_is_a_conflict_when_someone_edited_after_the_saga(slack: Catalog, sandbox: Boxes) -> None:
    ts = post_directly(sandbox, "v1")
    keys = new_keys("slack.update_message")
    params = {"channel": CHANNEL, "ts": ts, "text": "v2"}
    result = await slack.forward("slack.update_message", params, keys)
    edited = sandbox.slack.raw.post("/api/chat.update", json={"channel": CHANNEL, "ts": ts, "text": "v3 (human)"})
    assert edited.json()["ok"]

    with pytest.raises(CompensationConflict) as conflict:
        await slack.compensate("slack.update_message", params, keys, result)

    assert conflict.value.info.detail == {"expected": "v2", "current": "v3 (human)"}
    assert [m["text"] for m in messages(sandbox)] == ["v3 (human)"]


async def test_restore_of_a_deleted_message_is_a_conflict(slack: Catalog, sandbox: Boxes) -> None:
    ts = post_directly(sandbox, "v1")
    keys = new_keys("slack.update_message")
    params = {"channel": CHANNEL, "ts": ts, "text": "v2"}
    result = await slack.forward("slack.update_message", params, keys)
    sandbox.slack.raw.post("/api/chat.delete", json={"channel": CHANNEL, "ts": ts}).raise_for_status()

    with pytest.raises(CompensationConflict):
        await slack.compensate("slack.update_message", params, keys, result)


async def test_update_of_a_missing_message_is_terminal(slack: Catalog) -> None:
    with pytest.raises(ProviderRejected) as missing:
        await slack.forward("slack.update_message", {"channel": CHANNEL, "ts": "1700000000.000001", "text": "x"},
                            new_keys("slack.update_message"))
    assert missing.value.info.code == "message_not_found"


# --------------------------------------------------------------------------- errors


async def test_rate_limits_are_transient_with_slacks_retry_after(slack: Catalog, sandbox: Boxes) -> None:
    sandbox.slack.fault(path="/api/conversations.history", action="rate_limit", retry_after=3, times=1)
    with pytest.raises(ProviderUnavailable) as limited:
        await slack.forward("slack.post_message", {"channel": CHANNEL, "text": "x"}, new_keys("slack.post_message"))
    assert limited.value.retry_after_s == 3.0
    assert sandbox.slack.effects() == []


async def test_other_ok_false_errors_are_terminal(slack: Catalog) -> None:
    with pytest.raises(ProviderRejected) as missing:
        await slack.forward("slack.post_message", {"channel": "C0NOSUCHCH", "text": "x"},
                            new_keys("slack.post_message"))
    assert missing.value.info.code == "channel_not_found"
