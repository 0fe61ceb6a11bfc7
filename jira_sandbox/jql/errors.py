"""The one error type of the JQL engine, and the wording of Jira's messages.

Wording follows Jira's own parser tests and REST examples (`Error in the JQL Query: ...
(line 1, character 9)` for syntax, bare sentences for validation), so that a client that
shows or matches on Jira's message behaves the same against the sandbox.
"""

from __future__ import annotations

SYNTAX_PREFIX = "Error in the JQL Query: "
VALID_OPERATORS = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
VALID_ESCAPES = "The valid escape sequences are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX."
DATE_FORMATS = ("Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
                "or a period format e.g. '-5d', '4w 2d'.")


class JqlError(Exception):
    """A query Jira would answer with 400: `messages` go into `{"errorMessages": [...], "errors": {}}`."""

    def __init__(self, messages: list[str] | str, warnings: list[str] | None = None):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        self.warnings = list(warnings or [])
        super().__init__("; ".join(self.messages))


def syntax(message: str, line: int | None = None, column: int | None = None) -> JqlError:
    """A parse error, with Jira's position suffix when the position is known."""
    where = f" (line {line}, character {column})" if line is not None else ""
    return JqlError(f"{SYNTAX_PREFIX}{message}{where}")


def unsupported_operator(operator: str, field: str) -> JqlError:
    """`summary = x`, `labels ~ x`, `priority ~ x`..."""
    return JqlError(f"The operator '{operator}' is not supported by the '{field}' field.")


def unknown_field(field: str) -> JqlError:
    """A field that is neither a system field nor a known custom field."""
    return JqlError(f"Field '{field}' does not exist or you do not have permission to view it.")


def unknown_value(value: str, field: str) -> JqlError:
    """A project, status, priority, user... that does not exist."""
    return JqlError(f"The value '{value}' does not exist for the field '{field}'.")


def bad_date(value: str, field: str) -> JqlError:
    """A date literal in none of Jira's formats."""
    return JqlError(f"Date value '{value}' for field '{field}' is invalid. {DATE_FORMATS}")
