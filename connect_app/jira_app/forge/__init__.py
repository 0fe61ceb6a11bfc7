"""The Jira app on Forge: its manifest, rendered for a base URL and an app id (the remote's routes come next)."""
