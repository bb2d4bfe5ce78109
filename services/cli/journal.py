"""`pivot journal RUN`: a saga's history for debugging, from Restate's own journal.

An open saga's history spans several invocations (its engine, one per call, one per gated step):
their journals are merged in the order Restate appended the entries.

Each journaled step (`ctx.run` named "step:action" or "step:compensate") appears with its
time and result, and the saga's own step events are recovered from the `outcome` state
writes in the same journal (each one a snapshot: the difference to the previous snapshot is
what happened), so the two are interleaved exactly in the order Restate recorded them.
"""

import json
from typing import Any

from pydantic import BaseModel

from pivot.services.admin import AdminClient


class JournalEvent(BaseModel):
    index: int
    at: str
    kind: str
    """"entry" (a Restate journal entry) or "step" (a saga step event)."""
    what: str
    detail: str = ""


def _decode_value(entry_json: str | None) -> dict[str, Any] | None:
    if not entry_json:
        return None
    try:
        command = json.loads(entry_json)["Command"]["SetState"]
        if command.get("key") != "outcome":
            return None
        value = bytes(command["value"]).decode()
        decoded = json.loads(value)
        return decoded if isinstance(decoded, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def _step_events(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    before = {s["id"]: s for s in (previous or {}).get("steps", [])}
    for step in current.get("steps", []):
        old = before.get(step["id"], {})
        if old.get("state") == step.get("state") and old.get("error") == step.get("error"):
            continue
        detail = step.get("ref") or ""
        error = step.get("error")
        if error and error != old.get("error"):
            for attempt in (error.get("detail") or {}).get("attempts", []):
                events.append((f"{step['id']} ✗ {attempt.split(':', 1)[0]}", attempt.split(": ", 1)[-1]))
        if error:
            detail = f"{error['code']}: {error['message']}"
        if step.get("compensation") and step.get("compensation") != old.get("compensation"):
            detail = f"{detail} ↺ {step['compensation']}".strip()
        events.append((f"{step['id']} → {step['state']}", detail))
    if (previous or {}).get("status") != current.get("status"):
        events.append((f"saga → {current.get('status')}", ""))
    return events


def _result_of(entry_lite_json: str | None) -> str:
    if not entry_lite_json:
        return ""
    try:
        lite = json.loads(entry_lite_json)
    except ValueError:
        return ""
    result = lite.get("Notification", {}).get("result")
    if isinstance(result, str):
        return result.lower()
    if isinstance(result, dict):
        return "failure" if "Failure" in result else "success"
    return ""


def timeline(entries: list[dict[str, Any]]) -> list[JournalEvent]:
    events: list[JournalEvent] = []
    snapshot: dict[str, Any] | None = None
    for row in entries:
        index, at = int(row["index"]), str(row.get("appended_at") or "")
        entry_type, name = str(row.get("entry_type") or ""), str(row.get("name") or "")
        value = _decode_value(row.get("entry_json")) if entry_type == "Command: SetState" else None
        if value is not None:
            for what, detail in _step_events(snapshot, value):
                events.append(JournalEvent(index=index, at=at, kind="step", what=what, detail=detail))
            snapshot = value
            continue
        if entry_type == "Command: Run":
            events.append(JournalEvent(index=index, at=at, kind="entry", what=f"run {name}"))
        elif entry_type.startswith("Notification:"):
            events.append(JournalEvent(index=index, at=at, kind="entry",
                                       what=f"  ↳ {entry_type.removeprefix('Notification: ').lower()} completed",
                                       detail=_result_of(row.get("entry_lite_json"))))
        elif entry_type.startswith("Command:") and entry_type != "Command: SetState":
            events.append(JournalEvent(index=index, at=at, kind="entry", what=entry_type.removeprefix("Command: "),
                                       detail=name))
    return events


def merged(journals: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Several invocations' journals as one, in the order Restate appended their entries (an open
    saga's engine, each call and each gated step are separate invocations)."""
    entries = [entry for journal in journals for entry in journal]
    entries.sort(key=lambda entry: (str(entry.get("appended_at") or ""), int(entry["index"])))
    return [{**entry, "index": position} for position, entry in enumerate(entries)]


def saga_journal(admin: AdminClient, run_id: str) -> tuple[dict[str, Any], list[JournalEvent]] | None:
    """A saga's invocation (a plan's, or an open saga's several as one) and its timeline; None when
    Restate holds no journal of it (never run, or past the retention period). What `pivot journal`
    prints and the MCP resource `saga://<run>/journal` serves."""
    invocation = None if admin.open_saga_record(run_id) else admin.saga_invocation(run_id)
    if invocation is not None:
        return invocation, timeline(admin.journal(str(invocation["id"])))
    invocations = admin.open_saga_invocations(run_id)
    if not invocations:
        return None
    events = timeline(merged([admin.journal(str(i["id"])) for i in invocations]))
    return ({"target": f"Saga/{run_id}", "id": f"{len(invocations)} invocations",
             "status": invocations[-1].get("status"), "created_at": invocations[0].get("created_at")}, events)
