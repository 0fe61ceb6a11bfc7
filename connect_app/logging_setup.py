"""Structured log lines: a stable event name plus fields, never secrets, and the id of the work they belong to.

Two formats (LOG_FORMAT): `keyvalue` (`time level logger event key=value ...`, for people reading a terminal)
and `json` (one object per line, for a log pipeline). Either way every line carries the *log context* of the
code that wrote it: `request_id` (the HTTP request, or the request that enqueued the job), and `delivery_id`
while a webhook delivery is being received or processed. The context lives in a ContextVar, so it follows a
request through its thread and is handed to jobs explicitly (`carried_context` → `context_scope`) because
neither a thread pool nor an RQ worker inherits it.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

FORMATS = ("keyvalue", "json")
_STANDARD = set(vars(logging.LogRecord("x", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_REDACT = ("secret", "token", "password", "authorization", "jwt")
# What we accept from a client's or proxy's X-Request-Id: a bounded token of URL-safe characters (UUIDs,
# base64, trace ids). Anything else is replaced, never echoed: it would end up verbatim in every log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")
# Each value is a fresh dict, never mutated in place (`bind_context` sets a new one): a ContextVar's
# default is shared by every context, and a copied context must not see the other's changes.
_context: ContextVar[Mapping[str, str]] = ContextVar("cscx_log_context", default=MappingProxyType({}))


def new_request_id() -> str:
    """A fresh request id (32 hex characters)."""
    return uuid.uuid4().hex


def request_id_from(header_value: str | None) -> str:
    """The incoming X-Request-Id when it is sane, else a fresh id."""
    if header_value and _SANE_REQUEST_ID.fullmatch(header_value):
        return header_value
    return new_request_id()


def current_context() -> dict[str, str]:
    """The fields every log line of the current request or job carries."""
    return dict(_context.get())


def bind_context(**fields: str) -> None:
    """Add fields to the current log context (e.g. `delivery_id` once a delivery is known)."""
    _context.set({**_context.get(), **{key: str(value) for key, value in fields.items()}})


def carried_context() -> dict[str, str]:
    """The context a job started now should run with: the current one, always with a request id.

    Work started without a request (the scheduler, a sweep, the CLI) gets an id of its own here, so
    every line of that job, and of the jobs it starts, can still be found together.
    """
    fields = current_context()
    fields.setdefault("request_id", new_request_id())
    return fields


@contextmanager
def context_scope(fields: Mapping[str, str]) -> Iterator[None]:
    """Run a block (a request, a job) with exactly these context fields, restoring the previous ones after.

    Worker threads and processes run one job after another: without the reset, one job's ids would
    leak into the next job's lines.
    """
    token = _context.set(dict(fields))
    try:
        yield
    finally:
        _context.reset(token)


def enter_context(fields: Mapping[str, str]):
    """Replace the current context; returns the token `leave_context` restores (for request hooks)."""
    return _context.set(dict(fields))


def leave_context(token) -> None:
    """Restore the context an `enter_context` replaced."""
    try:
        _context.reset(token)
    except ValueError:  # set in another context (a server that switched it): start clean instead
        _context.set({})


def redacted(key: str, value: Any) -> Any:
    """The value as it may be logged: secret-looking keys (also nested in dicts and lists) are redacted."""
    if any(word in key.lower() for word in _REDACT):
        return "[redacted]"
    if isinstance(value, Mapping):
        return {k: redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(key, v) for v in value]
    return value


def _fields(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        yield key, redacted(key, value)


class ContextFilter(logging.Filter):
    """Puts the log context on every record a handler emits (a field given explicitly in `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class KeyValueFormatter(logging.Formatter):
    """`time level logger event key=value ...`; values of secret-looking keys are redacted."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = [f"{key}={value}" for key, value in _fields(record)]
        return f"{base} {' '.join(extras)}".rstrip()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, `logger`, `event`, the fields, and `exception` if any."""

    CORE = ("time", "level", "logger", "event")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _fields(record):
            # A field named like a core key keeps its value under another name rather than replacing it.
            line[f"{key}_field" if key in self.CORE else key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def build_handler(log_format: str, stream=None) -> logging.Handler:
    """A stream handler writing `log_format` lines with the log context (configure_logging installs one)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(level: str, log_format: str = "keyvalue") -> None:
    """Install our handler on the root logger once; a later call changes its level and format."""
    root = logging.getLogger()
    handler = build_handler(log_format)
    for existing in root.handlers:
        if getattr(existing, "_cscx", False):
            existing.setFormatter(handler.formatter)
            break
    else:
        handler._cscx = True  # ours: found again, not duplicated, when another app is built in this process
        root.addHandler(handler)
    root.setLevel(level)
