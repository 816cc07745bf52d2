"""Receivers' tokens at rest: sealed with AES-256-GCM so that a database dump alone reveals none.

The key is derived with HKDF-SHA256 from ``US_SCROBBLE_TOKEN_KEY`` (a setting only control has)
and each sealed token is bound to its target's uuid as associated data, so a sealed value copied
onto another row does not open. Layout: version (1 byte) ‖ key id (4) ‖ nonce (12) ‖ ciphertext.
The key id lets tokens sealed under an earlier key (``US_SCROBBLE_TOKEN_OLD_KEYS``) still open
after a key change; a token is sealed again under the current key whenever it is replaced.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from us_control.settings import ControlSettings

_VERSION = b"\x01"
_INFO = b"us-control scrobble token v1"


class TokenUnreadable(Exception):
    """A sealed token that no configured key opens (the key changed, or the row was tampered)."""


def _derive(secret: str) -> tuple[bytes, AESGCM]:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return hashlib.sha256(key).digest()[:4], AESGCM(key)


class TokenSealer:
    def __init__(self, key: str, old_keys: Sequence[str] = ()) -> None:
        self._current = _derive(key)
        self._by_id = dict([_derive(k) for k in old_keys] + [self._current])

    def seal(self, token: str, target_uuid: UUID) -> bytes:
        key_id, aead = self._current
        nonce = os.urandom(12)
        return _VERSION + key_id + nonce + aead.encrypt(nonce, token.encode(), target_uuid.bytes)

    def open(self, sealed: bytes, target_uuid: UUID) -> str:
        aead = self._by_id.get(bytes(sealed[1:5])) if sealed[:1] == _VERSION else None
        if aead is None:
            raise TokenUnreadable("sealed under a key that is not configured")
        try:
            return aead.decrypt(bytes(sealed[5:17]), bytes(sealed[17:]), target_uuid.bytes).decode()
        except InvalidTag as exc:
            raise TokenUnreadable("does not open with the configured key") from exc


def sealer_from_settings(settings: ControlSettings) -> TokenSealer | None:
    if settings.scrobble_token_key is None:
        return None
    old = settings.scrobble_token_old_keys.get_secret_value() if settings.scrobble_token_old_keys else ""
    return TokenSealer(
        settings.scrobble_token_key.get_secret_value(), [k.strip() for k in old.split(",") if k.strip()]
    )
