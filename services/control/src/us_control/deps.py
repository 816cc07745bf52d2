"""Typed dependencies every router uses: settings, the unit of work, the current user, limits."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from us_common.errors import Forbidden, Unauthorized
from us_common.jwt import TokenError
from us_control.auth import grant_repository as grants
from us_control.auth.tokens import Principal, principal_from_token
from us_control.library.page_marks import TrackPageMarks
from us_control.ratelimit import LimitName, RateLimits
from us_control.settings import ControlSettings
from us_control.uow import UnitOfWork, get_uow

ACCESS_COOKIE = "us_access"
# Cookie-authenticated writes must carry this header: a cross-site form cannot set it.
CSRF_HEADER = "x-requested-with"

_bearer = HTTPBearer(auto_error=False)
log = structlog.get_logger(__name__)


async def app_settings(request: Request) -> ControlSettings:
    """The app's settings (async: a sync dependency would cost a threadpool hop per request)."""
    settings: ControlSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ControlSettings, Depends(app_settings)]


async def track_page_marks(request: Request) -> TrackPageMarks:
    marks: TrackPageMarks = request.app.state.track_marks
    return marks


TrackMarksDep = Annotated[TrackPageMarks, Depends(track_page_marks)]
# Paging of every list route (DESIGN.md "Lists"): limit 1..200, default 50 at the call site.
Limit = Annotated[int, Query(ge=1, le=200, description="page size (at most 200)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="items to skip")]
# scope="function": commit and publish run when the route returns, before the response leaves.
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


async def get_current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    uow: UowDep,
) -> Principal:
    token = credentials.credentials if credentials else request.cookies.get(ACCESS_COOKIE)
    if not token:
        raise Unauthorized("not authenticated")
    if credentials is None and request.method not in ("GET", "HEAD", "OPTIONS"):
        if not request.headers.get(CSRF_HEADER):
            raise Forbidden(f"cookie-authenticated requests must send {CSRF_HEADER}")
    try:
        principal = principal_from_token(request.app.state.access_tokens, token)
    except TokenError as exc:
        log.info("access_token_refused", reason=exc.reason)
        raise Unauthorized("invalid or expired token") from exc
    structlog.contextvars.bind_contextvars(user_uuid=str(principal.user_uuid))
    if principal.device_uuid is not None:
        await _check_device_binding(request, uow, principal)
    return principal


async def _check_device_binding(request: Request, uow: UnitOfWork, principal: Principal) -> None:
    """A paired device's token acts only as its own device, and only while its credential lives.

    Every ``device_uuid`` the request names — path, query or top-level JSON body — must be the
    token's device (403 otherwise), whatever the route: the rule holds for routes added later too.
    The credential is deleted when the device is forgotten or its refresh token was reused; from
    then on the device's access tokens are refused (401) although they have not expired.
    """
    assert principal.device_uuid is not None and principal.credential_uuid is not None
    if not await grants.credential_is_live(
        uow.db, principal.credential_uuid, principal.device_uuid, principal.user_uuid
    ):
        log.info("access_token_refused", reason="device_credential_revoked")
        raise Unauthorized("this device's credential was revoked; pair it again")
    named: list[Any] = [request.path_params.get("device_uuid"), request.query_params.get("device_uuid")]
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None  # the route's own validation answers 422
        if isinstance(body, dict):
            named.append(body.get("device_uuid"))
    for value in named:
        if value is None:
            continue
        try:
            same = UUID(str(value)) == principal.device_uuid
        except ValueError:
            continue  # malformed: the route's validation answers 422
        if not same:
            raise Forbidden("this credential belongs to another device")


CurrentUser = Annotated[Principal, Depends(get_current_user)]


async def get_rate_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


def rate_limited(name: LimitName) -> Callable[..., Awaitable[None]]:
    """A dependency that counts the request against the user's ``name`` limit."""

    async def dependency(user: CurrentUser, limits: Annotated[RateLimits, Depends(get_rate_limits)]) -> None:
        await limits.hit(name, str(user.user_uuid))

    return dependency
