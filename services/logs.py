"""Logging for the service: plain lines for people, or JSON lines (PIVOT_LOG_FORMAT=json) for
log pipelines. Saga log records carry `run_id` and `step_id` as fields, never secrets."""

import json
import logging
import os
from datetime import UTC, datetime

CONTEXT_FIELDS = ("run_id", "step_id", "approval_id")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    if os.environ.get("PIVOT_LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("PIVOT_LOG_LEVEL", "INFO"))
    logging.getLogger("httpx").setLevel(os.environ.get("PIVOT_HTTPX_LOG_LEVEL", "WARNING"))
