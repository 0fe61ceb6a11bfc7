"""Issue creation from CSCX.AI: drafts pre-filled with customer context, checked against Jira's create
metadata, with a priority suggestion and duplicate candidates; approval; and the issue created exactly once."""
