"""Pairing a device without a keyboard: the OAuth 2.0 device authorization grant (RFC 8628) and
the rotation of a paired device's refresh token. The decisions are in docs/PAIRING.md.

1. ``start``: a device asks for codes; it gets a secret ``device_code`` and a short ``user_code``.
2. ``approve`` / ``deny``: a logged-in user types the user code. Approval registers the device as
   that user's (a session command: one revision, one ``speaker`` message, so every screen lists it).
3. ``exchange_device_code``: the device polls; once approved it gets an access token bound to its
   ``device_uuid`` and a refresh token (the code is then used up).
4. ``refresh``: a refresh token is good once; each use returns a new one. Presenting the one it
   replaced means a copy exists: the credential is deleted (the device must pair again).

Token-endpoint failures raise :class:`GrantError` *after* flushing what they changed (the poll
time, a longer interval, a revoked credential): the router answers them as RFC 6749 ``{"error"}``
bodies without raising, so the unit of work still commits those changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID, uuid4

import structlog

from us_common.errors import Forbidden, NotFound
from us_control.auth import grant_repository as grants
from us_control.auth.device_codes import new_secret, new_user_code, secret_hash, user_code_hash
from us_control.auth.tokens import Principal, issue_access_token
from us_control.db import db_now_ms
from us_control.devices import service as devices
from us_control.models import AppUser, Device, DeviceAuthorization, DeviceCredential
from us_control.models.sqlmodels import now_utc
from us_control.playback.editor import SessionEditor
from us_control.playback.runner import run_command
from us_control.playback.schemas import DevicePublic, DeviceRegisterIn
from us_control.ratelimit import RateLimits
from us_control.settings import ControlSettings
from us_control.uow import UnitOfWork

log = structlog.get_logger(__name__)

GrantErrorCode = Literal[
    "invalid_request",
    "invalid_grant",
    "unsupported_grant_type",
    "authorization_pending",
    "slow_down",
    "expired_token",
    "access_denied",
]
# RFC 8628 §3.5: each slow_down adds 5 s to the interval; a cap keeps a confused client pairable.
SLOW_DOWN_STEP_S = 5
MAX_INTERVAL_S = 60
# A poll counts as too fast when it comes sooner than this share of the interval (network jitter).
_POLL_TOLERANCE = 0.8


class GrantError(Exception):
    """An OAuth error of the token endpoint (400 ``{"error", "error_description"}``)."""

    def __init__(self, error: GrantErrorCode, description: str) -> None:
        self.error = error
        self.description = description
        super().__init__(error)


@dataclass(frozen=True, slots=True)
class DeviceCodes:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


@dataclass(frozen=True, slots=True)
class DeviceTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    device_uuid: UUID


async def start(
    uow: UnitOfWork, settings: ControlSettings, device_name: str, client_id: str | None
) -> DeviceCodes:
    db = uow.db
    now_ms = await db_now_ms(db)
    await grants.delete_expired_authorizations(db, now_ms)
    device_code = new_secret()
    for _ in range(5):  # a user code still in use is drawn again (20^8 codes: almost never)
        user_code = new_user_code()
        row = DeviceAuthorization(
            device_code_hash=secret_hash(device_code),
            user_code_hash=str(user_code_hash(user_code)),
            device_uuid=uuid4(),
            requested_name=device_name,
            client_id=client_id,
            interval_s=settings.device_poll_interval_s,
            expires_at_ms=now_ms + settings.device_code_ttl_s * 1000,
        )
        if await grants.insert_authorization(db, row):
            log.info("pairing_started", authorization_uuid=str(row.authorization_uuid))
            return DeviceCodes(device_code, user_code, settings.device_code_ttl_s, row.interval_s)
    raise RuntimeError("could not draw a free user code")


async def _live_authorization(
    uow: UnitOfWork, limits: RateLimits, principal: Principal, user_code: str
) -> DeviceAuthorization:
    """The pending pairing this code names, locked; a wrong or expired code counts as a miss."""
    if principal.device_uuid is not None:
        raise Forbidden("a paired device cannot approve or deny pairings")
    key = str(principal.user_uuid)
    await limits.refuse_if_exhausted("pairing_misses", key)
    code_hash = user_code_hash(user_code)
    row = await grants.lock_by_user_code(uow.db, code_hash) if code_hash else None
    now_ms = await db_now_ms(uow.db)
    if row is not None and row.expires_at_ms > now_ms:
        if row.status == "pending":
            return row
        if row.user_uuid == principal.user_uuid and row.status in ("approved", "used"):
            return row  # this user already approved it: a repeated click is not a miss
    await limits.hit("pairing_misses", key)
    raise NotFound("unknown or expired code")


async def approve(
    uow: UnitOfWork,
    settings: ControlSettings,
    limits: RateLimits,
    principal: Principal,
    user_code: str,
    device_name: str | None,
) -> DevicePublic:
    row = await _live_authorization(uow, limits, principal, user_code)
    registered: list[Device] = []
    body = DeviceRegisterIn(
        device_uuid=row.device_uuid,
        # The approver's name wins over the one the device asked for (DESIGN.md).
        device_name=device_name or row.requested_name,
        device_platform=row.client_id,
    )

    async def apply(editor: SessionEditor) -> None:
        registered.append(await devices.register(editor, body))

    snapshot = await run_command(uow, settings, principal.user_uuid, apply)
    if row.status == "pending":
        row.status = "approved"
        row.user_uuid = principal.user_uuid
        await uow.db.flush()
        log.info("pairing_approved", authorization_uuid=str(row.authorization_uuid))
    return devices.device_public(registered[0], snapshot.server_time_ms, snapshot.active_device_uuid, settings)


async def deny(uow: UnitOfWork, limits: RateLimits, principal: Principal, user_code: str) -> None:
    row = await _live_authorization(uow, limits, principal, user_code)
    if row.status != "pending":
        raise NotFound("unknown or expired code")
    row.status = "denied"
    await uow.db.flush()
    log.info("pairing_denied", authorization_uuid=str(row.authorization_uuid))


async def exchange_device_code(uow: UnitOfWork, settings: ControlSettings, device_code: str) -> DeviceTokens:
    db = uow.db
    row = await grants.lock_by_device_code(db, secret_hash(device_code))
    if row is None or row.status == "used":
        raise GrantError("invalid_grant", "unknown or already used device code")
    now_ms = await db_now_ms(db)
    if now_ms >= row.expires_at_ms:
        raise GrantError("expired_token", "the device code expired; start pairing again")
    if row.status == "denied":
        raise GrantError("access_denied", "the pairing was denied")
    if row.status == "approved":
        row.status = "used"
        await db.flush()
        device = await db.get(Device, row.device_uuid)
        user = await db.get(AppUser, row.user_uuid) if row.user_uuid else None
        if device is None or user is None or device.user_uuid != user.user_uuid:
            raise GrantError("access_denied", "the device was forgotten before it picked up its credential")
        log.info("pairing_completed", device_uuid=str(device.device_uuid))
        return await _issue(uow, settings, user, device.device_uuid)
    too_fast = row.last_poll_ms is not None and now_ms - row.last_poll_ms < row.interval_s * 1000 * _POLL_TOLERANCE
    row.last_poll_ms = now_ms
    if too_fast:
        row.interval_s = min(row.interval_s + SLOW_DOWN_STEP_S, MAX_INTERVAL_S)
        await db.flush()
        raise GrantError("slow_down", f"poll at most every {row.interval_s} s")
    await db.flush()
    raise GrantError("authorization_pending", "waiting for a user to approve the code")


async def refresh(uow: UnitOfWork, settings: ControlSettings, refresh_token: str) -> DeviceTokens:
    db = uow.db
    token_hash = secret_hash(refresh_token)
    credential = await grants.lock_credential_by_token(db, token_hash)
    if credential is None:
        replaced = await grants.credential_by_previous_token(db, token_hash)
        if replaced is not None:
            # The token this credential already rotated away from came back: someone holds a copy
            # (OAuth 2.0 Security BCP, refresh token reuse). Revoke; the device pairs again.
            log.warning("refresh_token_reused", device_uuid=str(replaced.device_uuid))
            await db.delete(replaced)
            await db.flush()
        raise GrantError("invalid_grant", "unknown, rotated or revoked refresh token")
    user = await db.get(AppUser, credential.user_uuid)
    if user is None:
        raise GrantError("invalid_grant", "unknown, rotated or revoked refresh token")
    token = new_secret()
    credential.previous_token_hash = credential.refresh_token_hash
    credential.refresh_token_hash = secret_hash(token)
    credential.rotated_at = now_utc()
    await db.flush()
    return _tokens(settings, user, credential, token)


async def _issue(uow: UnitOfWork, settings: ControlSettings, user: AppUser, device_uuid: UUID) -> DeviceTokens:
    token = new_secret()
    credential = DeviceCredential(
        device_uuid=device_uuid, user_uuid=user.user_uuid, refresh_token_hash=secret_hash(token)
    )
    uow.db.add(credential)
    await uow.db.flush()
    return _tokens(settings, user, credential, token)


def _tokens(settings: ControlSettings, user: AppUser, credential: DeviceCredential, refresh_token: str) -> DeviceTokens:
    principal = Principal(user.user_uuid, user.username, credential.device_uuid, credential.credential_uuid)
    return DeviceTokens(
        access_token=issue_access_token(settings, principal),
        refresh_token=refresh_token,
        expires_in=settings.device_access_token_ttl_s,
        device_uuid=credential.device_uuid,
    )
