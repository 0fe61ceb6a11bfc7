"""Atlassian protocol layer: Connect JWT + QSH, signed install, Forge invocation tokens, signing, context tokens.

Pure by design: no Flask, no database. Tenant lookup and key fetching are injected, and every
refusal is one ``AtlassianAuthError`` that the web layer maps to a 401.
"""

from connect_app.atlassian.context_token import (
    CONTEXT_TOKEN_AUDIENCE,
    CONTEXT_TOKEN_ISSUER,
    IssueContext,
    issue_context_token,
    verify_context_token,
)
from connect_app.atlassian.forge import (
    FORGE_ISSUER,
    FORGE_JWKS_URL,
    FORGE_STAGING_JWKS_URL,
    ForgeInvocation,
    JwksKeys,
    invocation_token_from_headers,
    verify_invocation_token,
)
from connect_app.atlassian.install import (
    ATLASSIAN_INSTALL_KEYS_URL,
    InstallKeyFetcher,
    verify_install_token,
)
from connect_app.atlassian.jwt import (
    CONTEXT_QSH,
    DEFAULT_LEEWAY_SECONDS,
    AtlassianAuthError,
    VerifiedToken,
    token_from_request,
    verify_request_token,
)
from connect_app.atlassian.qsh import canonical_request, query_string_hash
from connect_app.atlassian.signing import ConnectJwtAuth, sign_request

__all__ = [
    "ATLASSIAN_INSTALL_KEYS_URL",
    "CONTEXT_QSH",
    "CONTEXT_TOKEN_AUDIENCE",
    "CONTEXT_TOKEN_ISSUER",
    "DEFAULT_LEEWAY_SECONDS",
    "FORGE_ISSUER",
    "FORGE_JWKS_URL",
    "FORGE_STAGING_JWKS_URL",
    "AtlassianAuthError",
    "ConnectJwtAuth",
    "ForgeInvocation",
    "InstallKeyFetcher",
    "IssueContext",
    "JwksKeys",
    "VerifiedToken",
    "canonical_request",
    "invocation_token_from_headers",
    "issue_context_token",
    "query_string_hash",
    "sign_request",
    "token_from_request",
    "verify_context_token",
    "verify_install_token",
    "verify_invocation_token",
    "verify_request_token",
]
