"""``POST /auth/token`` (OAuth2 password, device-code and refresh-token grants) and the browser's
cookie login/logout. The pairing routes are in ``pairing.py``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from us_common.errors import Unauthorized, Unprocessable
from us_control.auth import device_grant
from us_control.auth import repository as users
from us_control.auth.passwords import verify_password
from us_control.auth.tokens import Principal, issue_access_token
from us_control.deps import ACCESS_COOKIE, SettingsDep, UowDep, get_rate_limits
from us_control.ratelimit import RateLimits

router = APIRouter(prefix="/auth", tags=["auth"])


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    # Only for a paired device (device-code and refresh-token grants).
    refresh_token: str | None = None
    device_uuid: UUID | None = None


class GrantErrorOut(BaseModel):
    error: str
    error_description: str | None = None


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


async def _authenticate(
    uow: UowDep, request: Request, limits: RateLimits, username: str, password: str
) -> Principal:
    client = request.headers.get("x-real-ip") or (request.client.host if request.client else "-")
    await limits.hit("login", f"{username.lower()}|{client}")
    user = await users.get_by_username(uow.db, username)
    if not await verify_password(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("incorrect username or password")
    return Principal(user.user_uuid, user.username)


def _grant_error(exc: device_grant.GrantError) -> JSONResponse:
    # Returned, not raised: the unit of work commits what the grant recorded (poll time, interval).
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status_code=400, headers=NO_STORE
    )


def _missing(*names: str) -> Unprocessable:
    return Unprocessable([{"type": "missing", "loc": ["body", name], "msg": "Field required"} for name in names])


FormField = Annotated[str | None, Form(max_length=4096)]


@router.post(
    "/token",
    response_model=TokenOut,
    response_model_exclude_none=True,
    responses={400: {"model": GrantErrorOut}, 401: {}, 422: {}, 429: {}},
)
async def token(
    uow: UowDep,
    request: Request,
    settings: SettingsDep,
    limits: Annotated[RateLimits, Depends(get_rate_limits)],
    response: Response,
    grant_type: FormField = None,
    username: FormField = None,
    password: FormField = None,
    device_code: FormField = None,
    refresh_token: FormField = None,
    client_id: FormField = None,
    scope: FormField = None,
) -> TokenOut | JSONResponse:
    """Password login (the default grant), or a paired device's device-code / refresh-token grant.

    Grant failures are RFC 6749 bodies ``{"error", "error_description"}`` with 400 (RFC 8628 §3.5);
    a wrong password stays a 401 ``{"detail"}``."""
    response.headers.update(NO_STORE)
    if grant_type in (None, "", "password"):
        if not username or not password:
            raise _missing(*[n for n, v in (("username", username), ("password", password)) if not v])
        principal = await _authenticate(uow, request, limits, username, password)
        return TokenOut(
            access_token=issue_access_token(settings, principal), expires_in=settings.access_token_ttl_s
        )
    try:
        if grant_type == DEVICE_CODE_GRANT:
            if not device_code:
                raise device_grant.GrantError("invalid_request", "device_code is required")
            tokens = await device_grant.exchange_device_code(uow, settings, device_code)
        elif grant_type == "refresh_token":
            if not refresh_token:
                raise device_grant.GrantError("invalid_request", "refresh_token is required")
            tokens = await device_grant.refresh(uow, settings, refresh_token)
        else:
            raise device_grant.GrantError("unsupported_grant_type", "password, device_code or refresh_token")
    except device_grant.GrantError as exc:
        return _grant_error(exc)
    return TokenOut(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        device_uuid=tokens.device_uuid,
    )


@router.post("/session", responses={401: {}, 429: {}})
async def login_with_cookie(
    body: LoginIn,
    uow: UowDep,
    request: Request,
    response: Response,
    settings: SettingsDep,
    limits: Annotated[RateLimits, Depends(get_rate_limits)],
) -> dict[str, str]:
    """Browser login: the access token goes into an HttpOnly cookie, never into page script."""
    principal = await _authenticate(uow, request, limits, body.username, body.password)
    response.set_cookie(
        ACCESS_COOKIE,
        issue_access_token(settings, principal),
        max_age=settings.access_token_ttl_s,
        httponly=True,
        samesite="strict",
        secure=settings.public_url.startswith("https://"),
        path="/",
    )
    return {"user_uuid": str(principal.user_uuid), "username": principal.username}


@router.delete("/session", status_code=204)
async def logout(response: Response) -> Response:
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.status_code = 204
    return response
