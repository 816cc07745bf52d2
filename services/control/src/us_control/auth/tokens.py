"""Access tokens (and one-time SSE tickets) for users; the claims are the user's identity."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from us_common.jwt import DecodedTokens, TokenCodec, TokenError, TokenKind
from us_control.settings import ControlSettings


@dataclass(frozen=True, slots=True)
class Principal:
    user_uuid: UUID
    username: str


def access_codec(settings: ControlSettings) -> TokenCodec:
    return TokenCodec(TokenKind.ACCESS, settings.access_token_key.get_secret_value(), settings.issuer)


def issue_access_token(settings: ControlSettings, principal: Principal) -> str:
    return access_codec(settings).encode(
        {"sub": str(principal.user_uuid), "name": principal.username}, settings.access_token_ttl_s
    )


def principal_from_token(tokens: DecodedTokens, token: str) -> Principal:
    claims = tokens.decode(token)
    try:
        return Principal(user_uuid=UUID(str(claims["sub"])), username=str(claims.get("name", "")))
    except (KeyError, ValueError) as exc:
        raise TokenError("invalid") from exc
