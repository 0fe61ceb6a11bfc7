"""Structured log lines: a stable event name plus key=value fields, never secrets."""

from __future__ import annotations

import logging

_STANDARD = set(vars(logging.LogRecord("x", 0, "", 0, "", None, None))) | {"message", "asctime"}
_REDACT = ("secret", "token", "password", "authorization", "jwt")


class KeyValueFormatter(logging.Formatter):
    """`time level logger event key=value ...`; values of secret-looking keys are redacted."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = []
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            shown = "[redacted]" if any(word in key.lower() for word in _REDACT) else value
            extras.append(f"{key}={shown}")
        return f"{base} {' '.join(extras)}".rstrip()


def configure_logging(level: str) -> None:
    """Install the key=value formatter on the root logger once."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, KeyValueFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
