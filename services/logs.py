"""Logging for the service: plain lines for people, or JSON lines (PIVOT_LOG_FORMAT=json) for
log pipelines. Saga log records carry `run_id` and `step_id` as fields, never secrets.

A log message often quotes a plan or a provider (an error body, a deal's name): both formats pass
it through `pivot.services.terminal_text.clean`, so a control character cannot rewrite a terminal that
tails the log, a newline in data cannot forge a log line of its own, and a credential a provider
echoed is redacted. JSON escaping alone would not do: it leaves C1 controls and bidi overrides raw.
"""

import json
import logging
import os
from datetime import UTC, datetime
from types import TracebackType

from pivot.services.terminal_text import clean

CONTEXT_FIELDS = ("run_id", "step_id", "approval_id")
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class TextLines(logging.Formatter):
    """`time LEVEL logger message`, one record per line (a traceback keeps its own lines)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = clean(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: ExcInfo) -> str:
        return clean(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return clean(super().formatStack(stack_info), keep_newlines=True)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": clean(record.getMessage(), keep_newlines=True),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = clean(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exception"] = clean(self.formatException(record.exc_info), keep_newlines=True)
        return json.dumps(line, ensure_ascii=False)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    if os.environ.get("PIVOT_LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(TextLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("PIVOT_LOG_LEVEL", "INFO"))
    logging.getLogger("httpx").setLevel(os.environ.get("PIVOT_HTTPX_LOG_LEVEL", "WARNING"))
