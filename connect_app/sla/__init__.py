"""SLA tracking: business calendars, policies, per-issue clocks, at-risk and breach alerts."""
