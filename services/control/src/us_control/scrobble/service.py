"""Scrobble targets of a user: add (the receiver must accept the token), list, change, remove.

The receiver is asked before anything touches the database, so no connection is held during the
outbound request. The token is sealed (``tokens.py``) before it is stored and never returned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from us_common.errors import Conflict, NotFound, Unavailable, Unprocessable
from us_control.models import ScrobbleTarget
from us_control.scrobble import repository as repo
from us_control.scrobble.listenbrainz import ReceiverUnexpected, TokenCheck
from us_control.scrobble.receiver_url import ReceiverUrlRefused, normalize_base_url
from us_control.scrobble.repository import EntryCounts
from us_control.scrobble.runtime import ScrobbleRuntime
from us_control.scrobble.schemas import TargetIn, TargetPatch, TargetPublic
from us_control.scrobble.tokens import TokenSealer

log = structlog.get_logger(__name__)


def _sealer(runtime: ScrobbleRuntime) -> TokenSealer:
    if runtime.sealer is None:
        raise Unavailable("scrobbling is not configured on this server (the admin sets US_SCROBBLE_TOKEN_KEY)")
    return runtime.sealer


def _base_url(raw: str) -> str:
    try:
        return normalize_base_url(raw)
    except ReceiverUrlRefused as exc:
        raise Unprocessable(str(exc)) from exc


async def check_token(runtime: ScrobbleRuntime, base_url: str, token: str) -> TokenCheck:
    """Ask the receiver; every way it can say no is a 422 naming the reason (never the token)."""
    try:
        check = await runtime.client.validate_token(base_url, token)
    except ReceiverUrlRefused as exc:
        raise Unprocessable(str(exc)) from exc
    except ReceiverUnexpected as exc:
        raise Unprocessable(f"{base_url} does not look like a ListenBrainz API root: {exc}") from exc
    except httpx.HTTPError as exc:
        raise Unprocessable(f"cannot reach {base_url}: {type(exc).__name__}") from exc
    if not check.valid:
        log.info("scrobble_token_refused_on_check", base_url=base_url)
        raise Unprocessable("the receiver refused the token")
    return check


def target_public(target: ScrobbleTarget, counts: EntryCounts) -> TargetPublic:
    waiting = target.condition in ("failing", "token_refused") and not target.paused
    return TargetPublic(
        target_uuid=target.target_uuid,
        kind="listenbrainz",
        base_url=target.base_url,
        state="paused" if target.paused else target.condition,
        paused=target.paused,
        pending=counts.pending,
        delivered=target.delivered,
        refused=counts.refused,
        last_error=target.last_error,
        last_delivered_at=target.last_delivered_at,
        next_attempt_at=target.next_attempt_at if waiting else None,
        receiver_user=target.receiver_user,
        created_at=target.created_at,
    )


async def public_one(db: AsyncSession, target: ScrobbleTarget) -> TargetPublic:
    counts = await repo.entry_counts(db, [target.target_uuid])
    return target_public(target, counts.get(target.target_uuid, EntryCounts()))


async def add_target(
    db: AsyncSession, runtime: ScrobbleRuntime, user_uuid: UUID, body: TargetIn
) -> ScrobbleTarget:
    sealer = _sealer(runtime)
    base_url = _base_url(body.base_url)
    check = await check_token(runtime, base_url, body.token)
    if await repo.find_by_base_url(db, user_uuid, base_url):
        raise Conflict("this receiver is already a scrobble target of yours")
    if await repo.count_targets(db, user_uuid) >= runtime.settings.scrobble_max_targets:
        raise Conflict(f"at most {runtime.settings.scrobble_max_targets} scrobble targets per user")
    target_uuid = uuid4()
    target = ScrobbleTarget(
        target_uuid=target_uuid,
        user_uuid=user_uuid,
        base_url=base_url,
        token_sealed=sealer.seal(body.token, target_uuid),
        receiver_user=check.user_name,
    )
    db.add(target)
    await db.flush()
    await db.refresh(target)
    log.info("scrobble_target_added", target_uuid=str(target_uuid), base_url=base_url)
    return target


async def owned_target(db: AsyncSession, user_uuid: UUID, target_uuid: UUID, *, lock: bool = False) -> ScrobbleTarget:
    target = await repo.get_target(db, user_uuid, target_uuid, for_update=lock)
    if target is None:
        raise NotFound("scrobble target not found")
    return target


async def change_target(
    db: AsyncSession, runtime: ScrobbleRuntime, user_uuid: UUID, target_uuid: UUID, body: TargetPatch
) -> ScrobbleTarget:
    check: TokenCheck | None = None
    if body.token is not None:
        sealer = _sealer(runtime)
        # Ownership first (404 before any outbound request), then ask the receiver, then lock.
        base_url = (await owned_target(db, user_uuid, target_uuid)).base_url
        await db.rollback()  # no transaction stays open during the receiver's answer
        check = await check_token(runtime, base_url, body.token)
    target = await owned_target(db, user_uuid, target_uuid, lock=True)
    now = datetime.now(UTC)
    if check is not None and body.token is not None:
        target.token_sealed = sealer.seal(body.token, target.target_uuid)
        target.token_generation += 1
        target.receiver_user = check.user_name
        target.condition, target.failures, target.last_error = "ok", 0, None
        target.next_attempt_at = now
    if body.paused is not None and body.paused != target.paused:
        target.paused = body.paused
        if not body.paused:
            target.next_attempt_at = now
    target.updated_at = now
    await db.flush()
    log.info("scrobble_target_changed", target_uuid=str(target_uuid),
             token_replaced=body.token is not None, paused=target.paused)
    return target


async def remove_target(db: AsyncSession, user_uuid: UUID, target_uuid: UUID) -> None:
    """Remove a target and the listens still waiting for it."""
    await repo.delete_target(db, await owned_target(db, user_uuid, target_uuid))
    log.info("scrobble_target_removed", target_uuid=str(target_uuid))
