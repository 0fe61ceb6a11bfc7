"""What the sandbox's outbound deliveries share: deliveries in flight, a wait for none, the attempts listing.

Jira's webhook dispatcher (`webhooks`) and Forge's event dispatcher (`forge_events`) both queue
deliveries, retry them later, hold them while paused, and let a test wait until every one is done
(`POST .../flush`). `InFlight` counts a delivery from the moment it is queued until its last attempt;
its condition also guards whatever else the dispatcher keeps beside the count (held or buffered items).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping


class InFlight:
    """Deliveries queued, held, being attempted or waiting for a retry; `wait_idle` until there are none."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self._count = 0

    def add(self) -> None:
        """One more delivery (call with `cond` held, so a pause or a buffer decision is taken atomically)."""
        self._count += 1

    def finish(self) -> None:
        """A delivery made its last attempt (delivered, or given up)."""
        with self.cond:
            self._count -= 1
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is in flight; False when `timeout` seconds passed first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self._count > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(remaining)
        return True


def filter_records(records: Iterable[dict], args: Mapping[str, str], keys: Iterable[str]) -> list[dict]:
    """The attempt records whose fields equal the query's (`?issue_key=&event=`); an empty filter matches all."""
    wanted = {key: args[key] for key in keys if args.get(key)}
    return [record for record in records if all(record.get(k) == v for k, v in wanted.items())]
