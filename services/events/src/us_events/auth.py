"""Who is connecting: an access token from ``Authorization: Bearer`` or the ``us_access`` cookie.

Native clients send the header; browsers (EventSource cannot send headers) carry the HttpOnly
cookie control set at ``POST /auth/session``. Tokens never travel in the URL and are never logged.
"""

from __future__ import annotations

from uuid import UUID

import structlog
from starlette.requests import Request

from us_common.errors import Forbidden, Unauthorized
from us_common.jwt import TokenCodec, TokenError

ACCESS_COOKIE = "us_access"

log = structlog.get_logger(__name__)


def presented_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is not None:
        # An explicit header wins; a bad one is refused rather than replaced by the cookie.
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""
    return request.cookies.get(ACCESS_COOKIE, "")


def user_from_token(codec: TokenCodec, token: str, device_uuid: str | None = None) -> str:
    """The user's uuid (canonical string) or :class:`Unauthorized`.

    A paired device's token (claim ``dev``, docs/PAIRING.md) opens only its own device's stream:
    another ``device_uuid`` is a 403. (Control re-checks its credential on every API call; the
    gateway has no database, and a forgotten device is no longer in the cached device list.)"""
    if not token:
        raise Unauthorized("not authenticated")
    try:
        claims = codec.decode(token)
        user_uuid = str(UUID(str(claims["sub"])))
        bound = UUID(str(claims["dev"])) if claims.get("dev") is not None else None
    except TokenError as exc:
        log.info("access_token_refused", reason=exc.reason)
        raise Unauthorized("invalid or expired token") from exc
    except (KeyError, ValueError) as exc:
        log.info("access_token_refused", reason="bad_subject")
        raise Unauthorized("invalid or expired token") from exc
    structlog.contextvars.bind_contextvars(user_uuid=user_uuid)
    if bound is not None and device_uuid is not None and _same_uuid(device_uuid, bound) is False:
        raise Forbidden("this credential belongs to another device")
    return user_uuid


def _same_uuid(value: str, bound: UUID) -> bool | None:
    try:
        return UUID(value) == bound
    except ValueError:
        return None  # malformed: the route's validation answers 422
