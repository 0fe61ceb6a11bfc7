"""The periodic safety net: re-run inbox deliveries and outbox pushes that are due or were abandoned.

Jobs started right after a commit do the work in the normal case; this finds what they missed
(a crash between commit and job start, a killed worker, a retry whose backoff has passed).
Every job it starts claims its rows first, so overlapping sweeps never double the work; due inbox
deliveries wake one drain (`tracking.batch`), which claims them in batches.
"""

from __future__ import annotations

import logging

from connect_app.delivery import outbox
from connect_app.platform import jobs
from connect_app.tracking import batch, inbox

log = logging.getLogger(__name__)


def sweep() -> dict[str, int]:
    """Periodic job: submit processing for due inbox rows and delivery for due outbox messages."""
    deliveries = inbox.due_deliveries()
    if deliveries:
        batch.wake()
    messages = outbox.due_messages() if outbox.provider_for() is not None else []
    for message_id in messages:
        jobs.submit(outbox.deliver_message, str(message_id))
    if deliveries or messages:
        log.info("sweep.submitted", extra={"deliveries": len(deliveries), "messages": len(messages)})
    return {"deliveries": len(deliveries), "messages": len(messages)}
