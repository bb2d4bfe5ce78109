"""Handlers that take nothing accept "nothing" in each form an HTTP client sends it.

Restate's ingress refuses any body, even `{}`, for a handler declared without input, while
many clients (and MCP bridges) always send `{}` with a JSON content type. So such handlers
take raw bytes and accept an empty body, `{}` and `null` alike; anything else is a 400 that
says so, never silently ignored.
"""

from pivot.compensations import strict_json
from pivot.compensations.error_body import refusal


def expect_empty(body: bytes) -> None:
    if not body.strip():
        return
    try:
        value = strict_json.loads(body)
    except (strict_json.NotJson, RecursionError):
        value = ...
    if value is None or value == {}:
        return
    raise refusal(400, "takes_no_input", "this call takes no input: send no body, {} or null", field="body")
