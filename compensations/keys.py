"""Structural idempotency keys.

A key is a function of where a write sits (run, step, action), never of its parameters or of
anything an LLM wrote: a retried tool call with slightly different arguments must map to the
same key, so the provider sees a replay instead of a second write.
"""

import hashlib
from dataclasses import dataclass

KEY_PREFIX = "pv1_"
_SEP = "\x1f"  # ASCII unit separator (␟): cannot occur in ids that pass plan validation


def _digest(*parts: str) -> str:
    return KEY_PREFIX + hashlib.sha256(_SEP.join(parts).encode("utf-8")).hexdigest()


def forward_key(run_id: str, step_id: str, action: str) -> str:
    """The key carried by a step's forward write."""
    return _digest(run_id, step_id, action)


def compensation_key(run_id: str, step_id: str, action: str) -> str:
    """The key carried by the compensation of that step."""
    return _digest(run_id, step_id, action, "compensate")


@dataclass(frozen=True, slots=True)
class StepKeys:
    """Both keys of one step. Providers derive sub-request keys from them with a suffix."""

    forward: str
    compensation: str

    @classmethod
    def derive(cls, run_id: str, step_id: str, action: str) -> "StepKeys":
        return cls(forward_key(run_id, step_id, action), compensation_key(run_id, step_id, action))

    def sub(self, suffix: str) -> str:
        """A stable key for one request of a multi-request forward write (e.g. an invoice's lines)."""
        return sub_key(self.forward, suffix)


def notice_key(approval_id: str, recipient: str, purpose: str) -> str:
    """The key of one announcement of an approval gate (an email to one approver): where it sits —
    the gate, its recipient, what it is — never its content, so a redelivered announcement replays
    instead of sending again. The approval id holds a `~`, which no run id does: no step key equals it."""
    return _digest(approval_id, recipient, purpose)


def sub_key(key: str, suffix: str) -> str:
    """`StepKeys.sub` from the forward key alone (what a kit action is given): "<key>:<suffix>"."""
    return f"{key}:{suffix}"
