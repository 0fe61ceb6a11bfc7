"""Drain-safe alias of `connect_app.platform.jobs.run_job`, the function RQ stores in every queued job.

Jobs queued by the release before the package layout name `connect_app.jobs.run_job`; a worker of
this release still runs them (their function paths are mapped in `platform.jobs.MOVED_JOBS`).
Remove in the release after 2026.12.
"""

from connect_app.platform.jobs import run_job

__all__ = ["run_job"]
