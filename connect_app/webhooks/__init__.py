"""Inbound Jira webhooks: authenticate (`receive`), store in the inbox (`inbox`), process as a job (`process`).

A delivery is verified against exactly one connection, written to `webhook_inbox` and answered
at once; a job applies it. The inbox is the source of truth: a row stays there (with its
error) until it is processed, and a periodic sweep re-runs anything pending or abandoned.
"""
