"""What a conformance run found: per action, each case's verdict with its evidence.

The JSON form (`pivot conformance --json`) is this model as is, for machines and CI; the table is
rendered from it (services/cli/conformance_command.py).
"""

from enum import StrEnum

from pydantic import BaseModel, Field


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


CASES: dict[int, str] = {
    1: "forward, verified, undone",
    2: "answer lost after the provider committed",
    3: "500 and a reset before the write",
    4: "429 with Retry-After",
    5: "service killed before the journal entry",
    6: "undo delivered twice",
    7: "changed by a third party before the undo",
    8: "read-back disagrees",
    9: "key in its carrier, no credential stored",
}


class CaseResult(BaseModel):
    case: int
    name: str
    verdict: Verdict
    summary: str
    """One sentence: what happened, or why it was skipped."""
    evidence: list[str] = Field(default_factory=list)
    """What the verdict rests on: the proxy's log lines, the judge's lookups, the saga's states."""
    run_id: str | None = None
    seconds: float = 0.0

    @classmethod
    def of(cls, case: int, verdict: Verdict, summary: str, evidence: list[str] | None = None,
           run_id: str | None = None) -> "CaseResult":
        return cls(case=case, name=CASES[case], verdict=verdict, summary=summary, evidence=evidence or [],
                   run_id=run_id)


class ActionReport(BaseModel):
    action: str
    kind: str
    target: str
    judgeable: bool = True
    note: str = ""
    """Why the action could not be judged at all, when it could not."""
    cases: list[CaseResult] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return not self.judgeable or any(case.verdict is Verdict.FAIL for case in self.cases)


class RunReport(BaseModel):
    actions: list[ActionReport]
    seconds: float
    stack_logs: str
    """Where the run's restate-server, service and sandbox logs are."""

    @property
    def failed(self) -> bool:
        return any(action.failed for action in self.actions)
