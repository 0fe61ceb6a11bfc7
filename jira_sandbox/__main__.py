"""`python -m jira_sandbox`: see `jira_sandbox.cli`."""

from jira_sandbox.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
