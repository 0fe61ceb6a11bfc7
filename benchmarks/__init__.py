"""Benchmarks: sync and webhooks, with their reports in README.md."""
