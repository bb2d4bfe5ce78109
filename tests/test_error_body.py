"""Pivot's error body through Restate's envelope and back: flat string metadata out, the same body
in, a long list of violations bounded, and an answer that is not Pivot's still given a code."""

import httpx

from pivot.compensations.error_body import MAX_LISTED_VIOLATIONS, ErrorBody, error_body, refusal
from pivot.compensations.validation import Violation
from pivot.services.client import error_of


def _violations(count: int) -> list[Violation]:
    return [Violation(step=f"s{i}", path=f"steps[{i}].params.amount", rule="params", message="not an integer",
                      fix="pass cents") for i in range(count)]


def test_the_body_rides_restates_metadata_as_strings_and_comes_back_whole() -> None:
    error = refusal(400, "invalid_step", "params.amount: not an integer", violations=_violations(2), run="r-1")
    assert (error.status_code, error.message) == (400, "params.amount: not an integer")
    assert error.metadata == {
        "code": "invalid_step", "run": "r-1", "step": "s0", "field": "steps[0].params.amount", "violation_count": "2",
        **{f"violation.{i}.{k}": v for i in range(2) for k, v in
           {"step": f"s{i}", "path": f"steps[{i}].params.amount", "rule": "params", "message": "not an integer",
            "fix": "pass cents"}.items()},
    }
    back = ErrorBody.of(error)
    assert back == error_body(400, "invalid_step", "params.amount: not an integer", violations=_violations(2),
                              run="r-1")
    assert back.body()["error"]["violations"][1]["path"] == "steps[1].params.amount"


def test_a_long_list_is_bounded_and_says_how_long_it_was() -> None:
    error = refusal(400, "plan_rejected", "rejected", violations=_violations(MAX_LISTED_VIOLATIONS + 5))
    back = ErrorBody.of(error)
    assert len(back.violations or []) == MAX_LISTED_VIOLATIONS
    assert back.violation_count == MAX_LISTED_VIOLATIONS + 5


def test_an_answer_without_pivots_code_gets_one_from_its_status() -> None:
    restate_own = httpx.Response(404, json={"code": 404, "message": "service 'Nope' not found"})
    assert error_of(restate_own).model_dump(exclude_none=True) == {
        "code": "not_found", "message": "service 'Nope' not found", "status": 404}
    proxy = httpx.Response(401, json={"error": {"code": "unauthorized", "message": "send a token", "status": 401}})
    assert (error_of(proxy).code, error_of(proxy).message) == ("unauthorized", "send a token")
    text = httpx.Response(502, text="Bad Gateway")
    assert (error_of(text).code, error_of(text).message, error_of(text).status) == ("unavailable", "Bad Gateway", 502)


def test_a_newer_servers_extra_fields_are_kept() -> None:
    back = ErrorBody.from_envelope(410, "expired", {"code": "approval_expired", "approval": "r~s", "run": "r"})
    assert back.body() == {"error": {"code": "approval_expired", "message": "expired", "status": 410, "run": "r",
                                     "approval": "r~s"}}
