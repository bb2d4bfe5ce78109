"""The kit's composition of the step protocol, on an in-memory API: what it looks up, writes,
completes, verifies and undoes, and how often. (Real APIs and faults: `pivot conformance`.)"""

import asyncio
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from pivot.compensations.connections import writing_first
from pivot.kit import (
    AlreadyWritten,
    CompensationConflict,
    CompensationReport,
    JsonDict,
    KeyCarrier,
    KeyedAction,
    Mismatch,
    ProviderRejected,
    StepKeys,
    StepKind,
)

KEYS = StepKeys.derive("run-1", "note", "memo.create_note")


class NoteParams(BaseModel):
    text: str


class Memo(KeyedAction[NoteParams, dict[str, Any]]):
    """Notes in a dict, keyed by the step's key; it counts what it is asked to do."""

    name: ClassVar[str] = "memo.create_note"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = NoteParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json("key")
    readback: ClassVar[str] = "the note by key: text"
    compensation: ClassVar[str] = "archive the note"
    not_run: ClassVar[str] = "No note was written."

    def __init__(self) -> None:
        self.notes: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.race = False

    async def lookup(self, params: NoteParams, key: str) -> dict[str, Any] | None:
        self.calls.append("lookup")
        return self.notes.get(key)

    async def write(self, params: NoteParams, key: str) -> dict[str, Any]:
        self.calls.append("write")
        if self.race:  # a concurrent attempt of this same step wrote it first
            self.notes[key] = {"id": "n1", "text": params.text, "state": "draft"}
            raise AlreadyWritten("a note with this key exists")
        self.notes[key] = {"id": "n1", "text": params.text, "state": "draft"}
        return self.notes[key]

    async def complete(self, params: NoteParams, key: str, found: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("complete")
        found["state"] = "published"
        return found

    def verify(self, params: NoteParams, fresh: dict[str, Any]) -> JsonDict:
        if fresh["text"] != params.text:
            raise Mismatch("the note says something else", expected=params.text, actual=fresh["text"])
        return {"ref": f"memo:note/{fresh['id']}", "id": fresh["id"], "text": fresh["text"]}

    def describe(self, result: JsonDict) -> str:
        return f"Note {result['id']} was written"

    def is_undone(self, found: dict[str, Any]) -> bool:
        return bool(found["state"] == "archived")

    async def undo(self, params: NoteParams, found: dict[str, Any], result: JsonDict | None, key: str) -> str:
        self.calls.append("undo")
        if found["text"] != params.text:
            raise CompensationConflict("edited since", expected=params.text, current=found["text"])
        found["state"] = "archived"
        return f"note {found['id']} archived"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_first_write_skips_the_lookup_and_a_later_attempt_finds_it() -> None:
    memo = Memo()
    with writing_first(True):
        result = run(memo.forward(NoteParams(text="hi"), KEYS))
    assert result == {"ref": "memo:note/n1", "id": "n1", "text": "hi"}
    assert memo.calls == ["write", "lookup"]  # the write, then the read-back by key
    memo.calls.clear()
    run(memo.forward(NoteParams(text="hi"), KEYS))  # an attempt after an ambiguous failure
    assert memo.calls == ["lookup", "complete", "lookup"]  # found: finished, never written twice


def test_a_race_lost_to_the_same_step_is_looked_up_not_refused() -> None:
    memo = Memo()
    memo.race = True
    assert run(memo.forward(NoteParams(text="hi"), KEYS))["id"] == "n1"
    assert memo.calls == ["lookup", "write", "lookup", "complete", "lookup"]


def test_a_read_back_that_disagrees_is_terminal() -> None:
    memo = Memo()
    memo.notes[KEYS.forward] = {"id": "n1", "text": "someone else's", "state": "published"}
    with pytest.raises(ProviderRejected) as rejected:
        run(memo.forward(NoteParams(text="hi"), KEYS))
    assert rejected.value.info.code == "readback_mismatch"
    assert rejected.value.info.detail == {"expected": "hi", "actual": "someone else's"}


def test_an_undo_delivered_twice_undoes_once_and_nothing_is_nothing() -> None:
    memo = Memo()
    assert run(memo.compensate(NoteParams(text="hi"), KEYS, None)).state == "nothing_to_undo"
    run(memo.forward(NoteParams(text="hi"), KEYS))
    first = run(memo.compensate(NoteParams(text="hi"), KEYS, None))
    second = run(memo.compensate(NoteParams(text="hi"), KEYS, None))
    assert (first.state, second.state) == ("compensated", "compensated")
    assert memo.calls.count("undo") == 1


def test_the_catalog_entry_says_what_the_pieces_are() -> None:
    memo = Memo()
    action = memo.action()
    assert (action.name, action.kind, action.key_carrier, action.kit) == (
        "memo.create_note", StepKind.COMPENSABLE, "JSON field key", memo)
    assert action.compensate is not None and action.describe_undo is None  # the undo's own words are used


class ListedMemo(Memo):
    """Its lookup lists no archived note (as Stripe lists no deleted customer); a read by id does."""

    async def lookup(self, params: NoteParams, key: str) -> dict[str, Any] | None:
        note = await super().lookup(params, key)
        return None if note is None or note["state"] == "archived" else note

    async def recall(self, params: NoteParams, key: str, result: JsonDict | None) -> dict[str, Any] | None:
        if result is None:
            return await self.lookup(params, key)
        return next((note for note in self.notes.values() if note["id"] == result["id"]), None)

    def already_undone(self, found: dict[str, Any]) -> str:
        return f"note {found['id']} is archived"


class Announce(Memo):
    """A noncompensable note that an operator may still retract; its undo can decline."""

    name: ClassVar[str] = "memo.announce"
    kind: ClassVar[StepKind] = StepKind.NONCOMPENSABLE

    async def undo(self, params: NoteParams, found: dict[str, Any], result: JsonDict | None,
                   key: str) -> str | CompensationReport:
        if params.text == "keep":
            return CompensationReport(state="nothing_to_undo", detail="the policy is to leave it")
        return await super().undo(params, found, result, key)

    async def not_found(self, params: NoteParams, result: JsonDict | None, key: str) -> CompensationReport:
        if result is not None:  # it was verified, and is gone now
            return CompensationReport(state="compensated", detail=f"note {result['id']} is already gone")
        return await super().not_found(params, result, key)

    def already_undone(self, found: dict[str, Any]) -> str:
        return f"note {found['id']} is archived"


def test_an_undo_recalls_by_the_result_what_a_lookup_no_longer_shows() -> None:
    memo = ListedMemo()
    result = run(memo.forward(NoteParams(text="hi"), KEYS))
    run(memo.compensate(NoteParams(text="hi"), KEYS, None))

    again = run(memo.compensate(NoteParams(text="hi"), KEYS, result))

    assert (again.state, again.detail) == ("compensated", "note n1 is archived")
    assert memo.calls.count("undo") == 1
    lost = run(memo.compensate(NoteParams(text="hi"), KEYS, None))  # without the result only the lookup is left
    assert (lost.state, lost.detail) == ("nothing_to_undo", "memo.create_note: nothing of this step to undo")


def test_a_noncompensable_action_with_an_undo_keeps_it_for_a_retract() -> None:
    action = Announce().action()
    assert action.kind is StepKind.NONCOMPENSABLE and action.compensate is not None
    assert action.describe_undo is None  # the undo's own words are used


def test_the_undo_hooks_say_what_the_action_knows() -> None:
    note = Announce()
    kept = run(note.forward(NoteParams(text="keep"), KEYS))
    assert run(note.compensate(NoteParams(text="keep"), KEYS, kept)).state == "nothing_to_undo"
    result = run(note.forward(NoteParams(text="hi"), StepKeys.derive("run-2", "note", note.name)))
    keys = StepKeys.derive("run-2", "note", note.name)
    run(note.compensate(NoteParams(text="hi"), keys, result))
    assert run(note.compensate(NoteParams(text="hi"), keys, None)).detail == "note n1 is archived"
    note.notes.clear()  # deleted by somebody: the verified result still says it existed
    gone = run(note.compensate(NoteParams(text="hi"), keys, result))
    assert (gone.state, gone.detail) == ("compensated", "note n1 is already gone")
    assert run(note.compensate(NoteParams(text="hi"), keys, None)).state == "nothing_to_undo"


def test_a_refused_write_that_the_lookup_cannot_find_keeps_its_code() -> None:
    class Taken(Memo):
        async def write(self, params: NoteParams, key: str) -> dict[str, Any]:
            raise AlreadyWritten("a note with this text exists", code="note_exists", detail={"existing_id": "n0"})

    with pytest.raises(ProviderRejected) as refused:
        run(Taken().forward(NoteParams(text="hi"), KEYS))
    assert (refused.value.info.code, refused.value.info.detail) == ("note_exists", {"existing_id": "n0"})
