"""``POST /auth/token`` (OAuth2 password form) and the browser's cookie login/logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from us_common.errors import Unauthorized
from us_control.auth import repository as users
from us_control.auth.passwords import verify_password
from us_control.auth.tokens import Principal, issue_access_token
from us_control.deps import ACCESS_COOKIE, SettingsDep, UowDep, get_rate_limits
from us_control.ratelimit import RateLimits

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


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


@router.post("/token", responses={401: {}, 429: {}})
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    uow: UowDep,
    request: Request,
    settings: SettingsDep,
    limits: Annotated[RateLimits, Depends(get_rate_limits)],
) -> TokenOut:
    principal = await _authenticate(uow, request, limits, form.username, form.password)
    return TokenOut(
        access_token=issue_access_token(settings, principal), expires_in=settings.access_token_ttl_s
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
