"""The CSM's and PM's pages inside CSCX.AI (`/app/...`): server-rendered, htmx, in CSCX.AI's iframe.

CSCX.AI opens a page with a short-lived service token in `?token=`, once. The page verifies it, then
hands it to every follow-up request in an `Authorization: Bearer` header: htmx calls, and navigation
inside the frame, which is boosted (fetched by htmx with the header, the address bar updated without
the token). So the token never travels in a URL again and no cookie is needed (third-party iframes
get none). A page opened without a token, or whose token has expired, shows "reload from CSCX.AI".
Every answer carries a CSP with no inline script and `frame-ancestors` limited to CSCX.AI's origin.
"""

from connect_app.pages import chat, drafting, manage, views  # noqa: F401  (each registers its routes on bp)
from connect_app.pages.frame import bp

__all__ = ["bp"]
