"""Password hashing with argon2 (pwdlib); hashing runs off the event loop."""

from __future__ import annotations

from functools import lru_cache

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from us_control.settings import get_settings


@lru_cache
def _hasher() -> PasswordHash:
    settings = get_settings()
    return PasswordHash(
        (Argon2Hasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib),)
    )


# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = None


def hash_password(password: str) -> str:
    return _hasher().hash(password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = await anyio.to_thread.run_sync(hash_password, "timing-equaliser")
        await anyio.to_thread.run_sync(_hasher().verify, password, _DUMMY_HASH)
        return False
    return bool(await anyio.to_thread.run_sync(_hasher().verify, password, password_hash))
