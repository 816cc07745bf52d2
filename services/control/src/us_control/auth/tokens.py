"""Access tokens for users and paired devices; the claims are the caller's identity.

A user's token (password login) names the user. A paired device's token (RFC 8628 device grant
or refresh) also names the device (``dev``) and the credential it came from (``cred``): such a
token acts only as that device, and only while that credential exists (docs/PAIRING.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from us_common.jwt import DecodedTokens, TokenCodec, TokenError, TokenKind
from us_control.settings import ControlSettings


@dataclass(frozen=True, slots=True)
class Principal:
    user_uuid: UUID
    username: str
    # Set for a paired device's token: the one device it may act as, and its credential.
    device_uuid: UUID | None = None
    credential_uuid: UUID | None = None


def access_codec(settings: ControlSettings) -> TokenCodec:
    return TokenCodec(TokenKind.ACCESS, settings.access_token_key.get_secret_value(), settings.issuer)


def issue_access_token(settings: ControlSettings, principal: Principal) -> str:
    claims = {"sub": str(principal.user_uuid), "name": principal.username}
    if principal.device_uuid is None:
        return access_codec(settings).encode(claims, settings.access_token_ttl_s)
    claims["dev"] = str(principal.device_uuid)
    claims["cred"] = str(principal.credential_uuid)
    return access_codec(settings).encode(claims, settings.device_access_token_ttl_s)


def principal_from_token(tokens: DecodedTokens, token: str) -> Principal:
    claims = tokens.decode(token)
    try:
        device = claims.get("dev")
        credential = claims.get("cred")
        if (device is None) != (credential is None):
            raise TokenError("invalid")
        return Principal(
            user_uuid=UUID(str(claims["sub"])),
            username=str(claims.get("name", "")),
            device_uuid=UUID(str(device)) if device is not None else None,
            credential_uuid=UUID(str(credential)) if credential is not None else None,
        )
    except (KeyError, ValueError) as exc:
        raise TokenError("invalid") from exc
