"""Impact fixtures: the sandbox with our app installed, for the Jira property tests."""

from tests.e2e_site import installed_site  # noqa: F401  (fixture)
