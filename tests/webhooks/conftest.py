"""Fixtures of the real-time tracking tests."""

from tests.webhooks.support import tracked_site  # noqa: F401  (fixture)
