"""The one error type the sandbox raises for a Jira-shaped error response."""

from __future__ import annotations

ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."


class JiraError(Exception):
    """A request Jira would refuse: rendered as `{"errorMessages": [...], "errors": {...}}`."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict | None = None):
        super().__init__(f"{status}: {messages or errors}")
        self.status = status
        self.messages = list(messages or [])
        self.errors = dict(errors or {})

    def body(self) -> dict:
        """Jira's error collection body."""
        return {"errorMessages": self.messages, "errors": self.errors}


def not_found(message: str = ISSUE_NOT_FOUND) -> JiraError:
    """A 404 with Jira's wording for an unknown or hidden issue."""
    return JiraError(404, [message])


def field_error(field: str, message: str) -> JiraError:
    """A 400 naming one invalid field."""
    return JiraError(400, [], {field: message})
