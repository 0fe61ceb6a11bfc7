"""Switchable misbehaviour for REST calls: latency, rate limits, random 5xx, scripted failures.

Also counts requests per endpoint (the sync benchmark reports "Jira requests made" from it).
Configured through `/_sandbox/faults` or `SandboxServer(**options)`; applied by `install()` as a
`before_request` hook to every path except the `/_sandbox/` control endpoints.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import Flask, jsonify, request

RATE_LIMITED_BODY = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
FAULT_OPTIONS = ("latency_ms", "rate_limit", "rate_window_s", "error_rate", "error_status", "fault_seed",
                 "path_latency_ms")


@dataclass
class FailRule:
    """Fail the next `count` requests whose path starts with `path` (and method matches)."""

    path: str
    count: int = 1
    status: int = 503
    method: str | None = None
    retry_after: int | None = None
    body: dict | None = None


@dataclass
class FaultConfig:
    """The current fault settings plus request statistics."""

    latency_ms: float = 0
    path_latency_ms: dict = field(default_factory=dict)  # path prefix -> extra ms ("slow endpoints")
    rate_limit: int = 0  # requests per window; 0 disables
    rate_window_s: float = 60
    error_rate: float = 0.0  # probability of a random 5xx
    error_status: int = 503
    fault_seed: int = 1
    rules: list[FailRule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        self.rng = random.Random(self.fault_seed)
        self.window_start = time.monotonic()
        self.window_count = 0
        self.by_endpoint: Counter = Counter()
        self.by_status: Counter = Counter()
        self.total = 0

    def configure(self, **options) -> None:
        """Update settings (unknown keys raise ValueError); reseeds the RNG if `fault_seed` given."""
        unknown = set(options) - set(FAULT_OPTIONS)
        if unknown:
            raise ValueError(f"unknown fault options: {sorted(unknown)}")
        with self.lock:
            for key, value in options.items():
                setattr(self, key, value)
            self.rng = random.Random(self.fault_seed)
            self.window_start, self.window_count = time.monotonic(), 0

    def clear(self) -> None:
        """Switch every fault off (statistics are kept)."""
        self.configure(latency_ms=0, path_latency_ms={}, rate_limit=0, error_rate=0.0)
        with self.lock:
            self.rules.clear()

    def describe(self) -> dict:
        """The settings as JSON."""
        with self.lock:
            return {k: getattr(self, k) for k in FAULT_OPTIONS} | {
                "fail_next": [vars(r) for r in self.rules]}

    def stats(self) -> dict:
        """Request counts: total, per `METHOD path-rule`, per status."""
        with self.lock:
            return {"requests_total": self.total, "by_endpoint": dict(self.by_endpoint),
                    "by_status": {str(k): v for k, v in self.by_status.items()}}

    def reset_stats(self) -> None:
        """Zero the counters."""
        with self.lock:
            self.by_endpoint.clear()
            self.by_status.clear()
            self.total = 0

    def delay_for(self, path: str) -> float:
        """Seconds to sleep before answering `path`."""
        extra = max((ms for prefix, ms in self.path_latency_ms.items() if path.startswith(prefix)), default=0)
        return (self.latency_ms + extra) / 1000.0

    def decide(self, method: str, path: str):
        """A (status, body, headers) failure for this request, or None to serve it."""
        with self.lock:
            for rule in self.rules:
                if path.startswith(rule.path) and rule.method in (None, method):
                    rule.count -= 1
                    if rule.count <= 0:
                        self.rules.remove(rule)
                    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
                    if rule.status == 429:
                        headers.update(self._limit_headers(rule.retry_after or 1))
                    return rule.status, rule.body or _error_body(rule.status), headers
            if self.rate_limit:
                now = time.monotonic()
                if now - self.window_start >= self.rate_window_s:
                    self.window_start, self.window_count = now, 0
                self.window_count += 1
                if self.window_count > self.rate_limit:
                    wait = max(1, math.ceil(self.rate_window_s - (now - self.window_start)))
                    return 429, RATE_LIMITED_BODY, {"Retry-After": str(wait), **self._limit_headers(wait)}
            if self.error_rate and self.rng.random() < self.error_rate:
                return self.error_status, _error_body(self.error_status), {}
        return None

    def _limit_headers(self, wait_s: int) -> dict:
        reset = datetime.now(UTC) + timedelta(seconds=wait_s)
        return {"X-RateLimit-Limit": str(self.rate_limit or 1), "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"), "RateLimit-Reason": "jira-burst-based"}

    def remaining_headers(self) -> dict:
        """Rate-limit headers for a served request while a limit is switched on."""
        if not self.rate_limit:
            return {}
        return {"X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - self.window_count))}

    def count(self, endpoint: str, status: int) -> None:
        """Record one answered request."""
        with self.lock:
            self.total += 1
            self.by_endpoint[endpoint] += 1
            self.by_status[status] += 1


def _error_body(status: int) -> dict:
    return {"errorMessages": [f"Sandbox injected fault (HTTP {status})."], "errors": {}}


def install(app: Flask, faults: FaultConfig) -> None:
    """Apply latency / failures before, and count requests after, every non-control request."""

    def _controlled() -> bool:
        return request.path.startswith("/_sandbox")

    @app.before_request
    def inject_faults():
        if _controlled():
            return None
        delay = faults.delay_for(request.path)
        if delay:
            time.sleep(delay)
        failure = faults.decide(request.method, request.path)
        if failure is None:
            return None
        status, body, headers = failure
        response = jsonify(body)
        response.status_code = status
        response.headers.update(headers)
        return response

    @app.after_request
    def count_request(response):
        if not _controlled():
            rule = request.url_rule.rule if request.url_rule else request.path
            if rule.startswith("/rest/api/<"):
                rule = "/rest/api/" + request.path.split("/")[3] + rule[rule.index(">") + 1:]
            faults.count(f"{request.method} {rule}", response.status_code)
            for key, value in faults.remaining_headers().items():
                response.headers.setdefault(key, value)
        return response
