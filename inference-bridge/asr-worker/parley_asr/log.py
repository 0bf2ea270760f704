"""JSON-lines logging on stderr: one object per event."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time

_lock = threading.Lock()
_context: dict[str, object] = {}


def configure(**fields: object) -> None:
    """Fields added to every line of this process (worker id, pid, ...)."""
    _context.update(fields)
    # Route library logging (grpc's "Exception calling application", ...)
    # through the same format.
    root = logging.getLogger()
    root.handlers[:] = [_JsonHandler()]
    root.setLevel(logging.WARNING)


def context() -> dict[str, object]:
    return dict(_context)


def log(event: str, level: str = "info", **fields: object) -> None:
    record = {"ts": round(time.time(), 3), "level": level, "event": event, **_context, **fields}
    line = json.dumps(record, default=str, ensure_ascii=False)
    with _lock:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass  # whoever read our log is gone (a killed parent): the work goes on, or stops, without it


class _JsonHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        fields = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            fields["exception"] = logging.Formatter().formatException(record.exc_info)
        log("library_log", level=record.levelname.lower(), **fields)
