"""Fixtures of the outbox tests: a tracked site pushing to a receiver."""

from tests.tracking.support import tracked_site  # noqa: F401  (fixture)
