"""JWT helpers with explicit typing (RFC 8725): algorithm pinned, ``typ`` header and claim,
``iss``/``aud``/``exp``/``iat`` required. Each token kind has its own key and audience, so an
access token never passes as a media token and vice versa.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt as pyjwt

ALGORITHM = "HS256"
# Clock skew tolerated on exp/nbf between hosts (a verifier that caches claims re-checks exp with it).
EXPIRY_LEEWAY_S = 2
_MAX_TOKEN_LEN = 4096


class TokenKind(StrEnum):
    ACCESS = "at+jwt"  # user's API credential, key: US_ACCESS_TOKEN_KEY
    SSE_TICKET = "sse-ticket+jwt"  # one-time browser ticket for /events, key: access key
    SERVICE = "svc+jwt"  # events/media -> control fallbacks, key: the caller's key
    MEDIA = "media+jwt"  # one track, one device, one speaker epoch; key: US_MEDIA_TOKEN_KEY


_AUDIENCE = {
    TokenKind.ACCESS: "us-api",
    TokenKind.SSE_TICKET: "us-events",
    TokenKind.SERVICE: "us-control-internal",
    TokenKind.MEDIA: "us-media",
}


class TokenError(Exception):
    """Any reason a token is refused; ``reason`` is safe to log (never the token)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class TokenCodec:
    kind: TokenKind
    key: str
    issuer: str

    def encode(self, claims: dict[str, Any], ttl_s: int, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        payload = {
            **claims,
            "typ": self.kind.value,
            "iss": self.issuer,
            "aud": _AUDIENCE[self.kind],
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_s,
        }
        return pyjwt.encode(payload, self.key, algorithm=ALGORITHM, headers={"typ": self.kind.value})

    def decode(self, token: str) -> dict[str, Any]:
        if not token or len(token) > _MAX_TOKEN_LEN:
            raise TokenError("malformed")
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError as exc:
            raise TokenError("malformed") from exc
        if header.get("alg") != ALGORITHM or header.get("typ") != self.kind.value:
            raise TokenError("wrong_type")
        try:
            claims: dict[str, Any] = pyjwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=_AUDIENCE[self.kind],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "typ"]},
                leeway=EXPIRY_LEEWAY_S,
            )
        except pyjwt.ExpiredSignatureError as exc:
            raise TokenError("expired") from exc
        except pyjwt.ImmatureSignatureError as exc:
            raise TokenError("not_yet_valid") from exc
        except pyjwt.InvalidSignatureError as exc:
            raise TokenError("bad_signature") from exc
        except pyjwt.PyJWTError as exc:
            raise TokenError("invalid") from exc
        if claims.get("typ") != self.kind.value:
            raise TokenError("wrong_type")
        return claims


class DecodedTokens:
    """A per-process memo in front of :meth:`TokenCodec.decode`.

    Signature and claims are checked once per token (decoding is a pure function of the token
    and the key); expiry is checked again on every use. It is not a verdict cache: whatever the
    caller checks beyond the token itself (a speaker epoch, a device) it still checks each time.
    Bounded: past ``max_entries`` distinct tokens it starts over instead of growing.
    """

    def __init__(
        self, codec: TokenCodec, max_entries: int = 4096, clock: Callable[[], float] = time.time
    ) -> None:
        self.codec = codec
        self.max_entries = max_entries
        self.clock = clock  # epoch seconds; a test passes its own instead of waiting for expiry
        self._claims: dict[str, dict[str, Any]] = {}

    def decode(self, token: str) -> dict[str, Any]:
        claims = self._claims.get(token)
        if claims is None:
            claims = self.codec.decode(token)
            if len(self._claims) >= self.max_entries:
                self._claims.clear()
            self._claims[token] = claims
        if self.clock() > float(claims["exp"]) + EXPIRY_LEEWAY_S:
            self._claims.pop(token, None)
            raise TokenError("expired")
        return claims
