"""Log lines for operators: one JSON object per line (or plain text), each naming the request it belongs to.

``TICKETFLOW_LOG_FORMAT=json|text`` chooses; the processes ``ticketflow serve``, ``ticketflow worker`` and gunicorn
default to JSON. The fields: time, level, logger, message, request_id, and for a request's own line method, route,
status, duration_ms and role. Never a token or a body: the web layer hands the formatter only those fields.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from engine.context import current_request_id

# The fields a record may carry beyond the standard ones (``logger.info(..., extra={...})``), in this order.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "role")
FORMATS = ("json", "text")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request being served in its thread (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One compact JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None)}
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def log_format(default: str = "json") -> str:
    """TICKETFLOW_LOG_FORMAT, checked: a wrong value is a plain error at start-up."""
    chosen = os.environ.get("TICKETFLOW_LOG_FORMAT", "").strip().lower() or default
    if chosen not in FORMATS:
        raise ValueError(f"TICKETFLOW_LOG_FORMAT must be one of {', '.join(FORMATS)} (got {chosen!r})")
    return chosen


def configure_logging(default: str = "json", level: int = logging.INFO) -> logging.Handler:
    """Send the root logger's records to stderr in the chosen format; return the handler (replacing any set
    earlier by this function, so calling it twice does not print every line twice)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format(default) == "json" else logging.Formatter(TEXT))
    handler.set_name("ticketflow")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "ticketflow"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The readiness check reads the migrations' head once; Alembic's plugin set-up lines are not news to anyone.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    return handler
