"""Secrets at rest: Fernet encryption with key rotation (MultiFernet)."""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBoxError(Exception):
    """Encryption keys are missing or a stored secret cannot be decrypted."""


class SecretBox:
    """Encrypts and decrypts short secrets; the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise SecretBoxError("ENCRYPTION_KEY is not set; secrets cannot be stored")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                raw = base64.urlsafe_b64decode(key.encode())
            except (binascii.Error, ValueError) as exc:
                raise SecretBoxError(f"ENCRYPTION_KEY #{position} is not urlsafe base64") from exc
            if len(raw) != 32:
                raise SecretBoxError(f"ENCRYPTION_KEY #{position} must decode to 32 bytes (use `cscx-jira keys new`)")
            fernets.append(Fernet(key.encode()))
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext (a Fernet token) for plaintext."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Plaintext for a token made by any configured key."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            # Never include the token itself: it would put ciphertext in logs for no gain.
            raise SecretBoxError("a stored secret cannot be decrypted with the configured keys") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("a stored secret cannot be decrypted with the configured keys") from exc


def new_key() -> str:
    """A fresh Fernet key."""
    return Fernet.generate_key().decode()


_box: SecretBox | None = None


def configure(keys: list[str]) -> SecretBox:
    """Install the process-wide box used by EncryptedText columns (called by create_app)."""
    global _box
    _box = SecretBox(keys)
    return _box


def box() -> SecretBox:
    """The configured box; raises when create_app has not configured one."""
    if _box is None:
        raise SecretBoxError("encryption is not configured (create_app sets it up from ENCRYPTION_KEY)")
    return _box
