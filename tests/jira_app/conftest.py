"""Connect end-to-end fixtures."""

from tests.e2e_site import installed_site  # noqa: F401  (fixture)
