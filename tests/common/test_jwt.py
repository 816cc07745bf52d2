"""Unit tests of the JWT helpers (RFC 8725 explicit typing, pinned algorithm)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping

import jwt as pyjwt
import pytest

from us_common.jwt import EXPIRY_LEEWAY_S, DecodedTokens, TokenCodec, TokenError, TokenKind

KEY_A = "a" * 16 + "0123456789abcdef0123456789abcdef"
KEY_B = "b" * 16 + "0123456789abcdef0123456789abcdef"
ACCESS = TokenCodec(TokenKind.ACCESS, KEY_A, "us")
MEDIA = TokenCodec(TokenKind.MEDIA, KEY_B, "us")


def _b64(obj: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_round_trip_keeps_claims() -> None:
    token = ACCESS.encode({"sub": "user-1", "name": "ann"}, ttl_s=60)
    claims = ACCESS.decode(token)
    assert claims["sub"] == "user-1"
    assert claims["typ"] == TokenKind.ACCESS.value


def test_access_token_never_passes_as_media_token_even_with_the_same_key() -> None:
    same_key_media = TokenCodec(TokenKind.MEDIA, KEY_A, "us")
    token = ACCESS.encode({"sub": "user-1"}, ttl_s=60)
    with pytest.raises(TokenError, match="wrong_type"):
        same_key_media.decode(token)


def test_wrong_key_is_bad_signature() -> None:
    forged = TokenCodec(TokenKind.ACCESS, KEY_B, "us").encode({"sub": "u"}, ttl_s=60)
    with pytest.raises(TokenError, match="bad_signature"):
        ACCESS.decode(forged)


def test_expired_and_not_yet_valid() -> None:
    expired = ACCESS.encode({"sub": "u"}, ttl_s=1, now=time.time() - 100)
    with pytest.raises(TokenError, match="expired"):
        ACCESS.decode(expired)
    future = ACCESS.encode({"sub": "u"}, ttl_s=60, now=time.time() + 600)
    with pytest.raises(TokenError, match="not_yet_valid"):
        ACCESS.decode(future)


def test_alg_none_is_refused() -> None:
    header = {"alg": "none", "typ": TokenKind.ACCESS.value}
    now = int(time.time())
    payload = {
        "sub": "u",
        "typ": TokenKind.ACCESS.value,
        "iss": "us",
        "aud": "us-api",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    token = f"{_b64(header)}.{_b64(payload)}."
    with pytest.raises(TokenError):
        ACCESS.decode(token)


def test_hs_rs_confusion_is_refused() -> None:
    # An attacker signs HS256 with a "public key" string and claims RS256: the alg is pinned.
    now = int(time.time())
    payload = {
        "sub": "u",
        "typ": TokenKind.ACCESS.value,
        "iss": "us",
        "aud": "us-api",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    token = pyjwt.encode(payload, KEY_A, algorithm="HS384", headers={"typ": TokenKind.ACCESS.value})
    with pytest.raises(TokenError, match="wrong_type"):
        ACCESS.decode(token)


def test_tampered_payload_is_refused() -> None:
    token = ACCESS.encode({"sub": "user-1"}, ttl_s=60)
    head, _, sig = token.split(".")
    claims = ACCESS.decode(token)
    claims["sub"] = "user-2"
    with pytest.raises(TokenError, match="bad_signature"):
        ACCESS.decode(f"{head}.{_b64(claims)}.{sig}")


def test_garbage_and_oversized_tokens_are_malformed() -> None:
    for token in ("", "not-a-jwt", "a.b.c", "x" * 5000):
        with pytest.raises(TokenError):
            ACCESS.decode(token)


def test_wrong_issuer_or_audience_is_invalid() -> None:
    other_issuer = TokenCodec(TokenKind.ACCESS, KEY_A, "someone-else").encode({"sub": "u"}, ttl_s=60)
    with pytest.raises(TokenError, match="invalid"):
        ACCESS.decode(other_issuer)


def test_the_memo_refuses_a_remembered_token_once_it_expires() -> None:
    """Expiry is checked on every use, not only on the first decode (a clock of the test's own)."""
    now = float(int(time.time()))  # tokens carry whole seconds
    clock = [now]
    memo = DecodedTokens(ACCESS, clock=lambda: clock[0])
    token = ACCESS.encode({"sub": "u"}, ttl_s=60, now=now)
    assert memo.decode(token)["sub"] == "u"
    clock[0] = now + 60 + EXPIRY_LEEWAY_S - 0.01
    assert memo.decode(token)["sub"] == "u"  # remembered, still within the leeway
    clock[0] = now + 60 + EXPIRY_LEEWAY_S + 0.01
    with pytest.raises(TokenError, match="expired"):
        memo.decode(token)
