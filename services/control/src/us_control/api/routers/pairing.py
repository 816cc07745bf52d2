"""``/auth/device``: pairing a device without a keyboard (RFC 8628; docs/PAIRING.md).

``POST /auth/device`` needs no credential (the device has none yet) and is rate limited per client
address; approve and deny need a logged-in user, and wrong codes count against that user.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from us_common.errors import Unprocessable
from us_control.auth import device_grant
from us_control.deps import CurrentUser, SettingsDep, UowDep, get_rate_limits
from us_control.playback.schemas import DevicePublic
from us_control.ratelimit import RateLimits

router = APIRouter(prefix="/auth/device", tags=["auth"])
Limits = Annotated[RateLimits, Depends(get_rate_limits)]
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    403: {"description": "a paired device's credential cannot approve pairings"},
    404: {"description": "unknown or expired code"},
    422: {"description": "invalid body"},
    429: {"description": "too many wrong codes (Retry-After)"},
}
DEFAULT_DEVICE_NAME = "Speaker"


class DeviceAuthorizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    # Informational (public clients, RFC 8628 §3.1); becomes the device's platform, e.g. "us-speaker".
    client_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")] | None = None


class DeviceAuthorizationOut(BaseModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class UserCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_code: Annotated[str, Field(min_length=1, max_length=64)]


class ApproveIn(UserCodeIn):
    device_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class DeniedOut(BaseModel):
    status: str = "denied"


_FORM_OR_JSON = {
    "requestBody": {
        "content": {
            "application/json": {"schema": DeviceAuthorizationIn.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": DeviceAuthorizationIn.model_json_schema()},
        }
    }
}


async def _authorization_body(request: Request) -> DeviceAuthorizationIn:
    """RFC 8628 clients send a form; ours may send JSON. Both are validated alike (422)."""
    content_type = request.headers.get("content-type", "")
    fields: Any
    if content_type.startswith("application/json"):
        try:
            fields = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise Unprocessable("body is not JSON") from exc
    elif re.match(r"(application/x-www-form-urlencoded|multipart/form-data)", content_type):
        fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    else:
        fields = {}
    try:
        return DeviceAuthorizationIn.model_validate(fields)
    except ValidationError as exc:
        errors = [{"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        raise Unprocessable(errors) from exc


@router.post("", openapi_extra=_FORM_OR_JSON, responses={422: {}, 429: {}})
async def start(
    request: Request, response: Response, uow: UowDep, settings: SettingsDep, limits: Limits
) -> DeviceAuthorizationOut:
    body = await _authorization_body(request)
    client = request.headers.get("x-real-ip") or (request.client.host if request.client else "-")
    await limits.hit("pairing_start", client)
    codes = await device_grant.start(uow, settings, body.device_name or DEFAULT_DEVICE_NAME, body.client_id)
    response.headers["Cache-Control"] = "no-store"
    verification_uri = f"{settings.public_url.rstrip('/')}/pair"
    return DeviceAuthorizationOut(
        device_code=codes.device_code,
        user_code=codes.user_code,
        verification_uri=verification_uri,
        verification_uri_complete=f"{verification_uri}?code={quote(codes.user_code)}",
        expires_in=codes.expires_in,
        interval=codes.interval,
    )


@router.post("/approve", responses=_ERRORS)
async def approve(
    body: ApproveIn, user: CurrentUser, uow: UowDep, settings: SettingsDep, limits: Limits
) -> DevicePublic:
    """The device becomes this user's (named by ``device_name`` if given); it picks up its
    credential at its next poll."""
    return await device_grant.approve(uow, settings, limits, user, body.user_code, body.device_name)


@router.post("/deny", responses=_ERRORS)
async def deny(body: UserCodeIn, user: CurrentUser, uow: UowDep, limits: Limits) -> DeniedOut:
    await device_grant.deny(uow, limits, user, body.user_code)
    return DeniedOut()
