"""The secrets of pairing (RFC 8628) and how they are stored: user codes, device codes, refresh
tokens, and their hashes. Pure functions, no I/O.

A user code is what a person types: 8 letters from a 20-consonant alphabet (no vowels, so no
words; no look-alikes), shown as ``BCDF-GHJK``: 20^8 ≈ 2^34.6 codes, far beyond what the
per-user wrong-code limit lets anyone try within a code's lifetime (RFC 8628 §5.1). Typing is
forgiving: case, spaces and dashes are ignored. Device codes and refresh tokens are 256-bit random
strings. Only SHA-256 hashes are stored: the secrets are random, so a slow hash adds nothing, and a
leaked table gives no usable secret.
"""

from __future__ import annotations

import hashlib
import secrets

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8


def new_user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_user_code(typed: str) -> str | None:
    """The canonical form of what someone typed, or None if it cannot be a user code."""
    letters = "".join(ch for ch in typed.upper() if ch not in " -\t")
    if len(letters) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in letters):
        return None
    return letters


def new_secret() -> str:
    """A device code or refresh token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def user_code_hash(typed: str) -> str | None:
    normalized = normalize_user_code(typed)
    return secret_hash(normalized) if normalized is not None else None
