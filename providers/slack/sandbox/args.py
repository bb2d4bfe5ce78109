"""Reading Slack Web API arguments the way slack.com does, and Slack's `ok: false` error.

Shared by the Web API methods (`app`) and the interactivity endpoints (`interactivity`): a
`response_url` body carries the same `text` / `blocks` / `attachments` as chat.postMessage and is
refused with the same error codes.
"""

from __future__ import annotations

import json
from typing import Any

MAX_TEXT_LENGTH = 40_000

JsonDict = dict[str, Any]


class SlackError(Exception):
    """`{"ok": false, "error": code}`; Slack reports almost every failure with HTTP 200."""

    def __init__(self, code: str, status: int = 200, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra

    def body(self) -> JsonDict:
        return {"ok": False, "error": self.code, **self.extra}


def text_arg(args: JsonDict, name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def bool_arg(args: JsonDict, name: str) -> bool:
    value = args.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in ("true", "1", "yes")


def json_arg(args: JsonDict, name: str, error: str) -> Any:
    """Structured args arrive as JSON values (JSON bodies) or JSON strings (form bodies)."""
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise SlackError(error) from None
    return value


def ts_arg(args: JsonDict, name: str, error: str) -> float | None:
    value = text_arg(args, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise SlackError(error) from None


def metadata_arg(args: JsonDict) -> JsonDict | None:
    metadata = json_arg(args, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise SlackError("invalid_metadata_format")
    if not isinstance(metadata.get("event_type"), str) or not metadata["event_type"]:
        raise SlackError("invalid_metadata_schema")
    payload = metadata.get("event_payload", {})
    if not isinstance(payload, dict):
        raise SlackError("invalid_metadata_schema")
    if len(json.dumps(metadata)) > 8000:
        raise SlackError("metadata_too_large")
    return {"event_type": metadata["event_type"], "event_payload": payload}


def content_args(args: JsonDict) -> tuple[str | None, list[Any] | None, list[Any] | None]:
    text = text_arg(args, "text")
    blocks = json_arg(args, "blocks", "invalid_blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks")
    attachments = json_arg(args, "attachments", "invalid_attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        raise SlackError("msg_too_long")
    if attachments is not None and len(attachments) > 100:
        raise SlackError("too_many_attachments")
    return text, blocks or None, attachments or None
