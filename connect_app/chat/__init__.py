"""Chat commands from CSCX.AI: "Show Jira issues for Acme", "What's the status of CS-123?", "File a bug for
Globex: ...", "Alert me when CS-123 is resolved" — read by patterns and fuzzy customer matching (no model,
no network), answered from the synced data, with follow-up questions kept per conversation."""
