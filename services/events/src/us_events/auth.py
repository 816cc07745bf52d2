"""Who is connecting: an access token from ``Authorization: Bearer`` or the ``us_access`` cookie.

Native clients send the header; browsers (EventSource cannot send headers) carry the HttpOnly
cookie control set at ``POST /auth/session``. Tokens never travel in the URL and are never logged.
"""

from __future__ import annotations

from uuid import UUID

import structlog
from starlette.requests import Request

from us_common.errors import Unauthorized
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


def user_from_token(codec: TokenCodec, token: str) -> str:
    """The user's uuid (canonical string) or :class:`Unauthorized`."""
    if not token:
        raise Unauthorized("not authenticated")
    try:
        claims = codec.decode(token)
        user_uuid = str(UUID(str(claims["sub"])))
    except TokenError as exc:
        log.info("access_token_refused", reason=exc.reason)
        raise Unauthorized("invalid or expired token") from exc
    except (KeyError, ValueError) as exc:
        log.info("access_token_refused", reason="bad_subject")
        raise Unauthorized("invalid or expired token") from exc
    structlog.contextvars.bind_contextvars(user_uuid=user_uuid)
    return user_uuid
