"""Saving and loading a site's state to a pickle file (`--state-file`).

Pickle because the state holds datetimes and nested dicts; the file is written and read only by
the sandbox itself on the developer's machine, never from an untrusted source.
"""

from __future__ import annotations

import os
import pickle

from jira_sandbox.state import create_defaults

PERSISTED = ("issues", "issue_ids", "users", "projects", "customer_catalog", "version", "admin_id",
             "admin_token", "cloud_id", "_next_issue_id", "_next_history_id", "_next_user")


def exists(path: str) -> bool:
    """True when a state file is there to load."""
    return os.path.exists(path)


def save(state, path: str) -> None:
    """Write the site's data atomically."""
    with state.lock:
        data = {"flavour": state.flavour, **{name: getattr(state, name) for name in PERSISTED}}
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as handle:
            pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)


def load(state, path: str) -> None:
    """Replace the site's data with the file's (the flavour must match)."""
    with open(path, "rb") as handle:
        data = pickle.load(handle)  # noqa: S301  (our own file, see module docstring)
    if data["flavour"] != state.flavour:
        raise ValueError(f"state file is for a {data['flavour']} site")
    with state.lock:
        for name in PERSISTED:
            setattr(state, name, data[name])
        # Files saved before projects had a create configuration get the defaults.
        state.projects = {key: create_defaults() | project for key, project in state.projects.items()}
