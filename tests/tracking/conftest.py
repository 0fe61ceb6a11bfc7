"""Fixtures of the real-time tracking tests."""

from tests.tracking.support import tracked_site  # noqa: F401  (fixture)
