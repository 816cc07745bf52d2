"""The outbox relay: delivers waiting listens to each target, once, whatever breaks in between.

Every control worker runs ``scrobble_sender`` (``background.py``). A sender takes one target at a
time under a Postgres advisory lock held by an open transaction (``try_lock_target``): exactly one
sender serves a target across workers and hosts, and a sender that dies releases it with its
connection. Per turn it sends one request:

1. a fresh ``playing_now`` if one waits (dropped, not retried, when it fails or expires);
2. otherwise the oldest waiting listens: alone (``single``) when one waits or when the oldest
   one *may already be there* (see below), else a batch (``import``) of up to
   ``US_SCROBBLE_BATCH_SIZE`` listens and 512 KB (ListenBrainz allows 1,000 and 10 KB each).

Before the request leaves, its entries are marked ``maybe_sent`` in their own committed
transaction. The answer is recorded in the lock's transaction. A crash between the two leaves
them marked; they are then resent **one per request**, carrying the same ``listened_at`` and
track, which ListenBrainz and Maloja store once (Maloja's key is the timestamp; a repeat of the
same track there is "ok"). One per request because Maloja stops reading an ``import`` at its
first repeat and still answers "ok" — a batch led by a listen it has would hide the rest.

After each answer: the next request to the target waits ``US_SCROBBLE_MIN_INTERVAL_S`` (1 s) or
what the receiver's rate-limit headers ask; failures back off exponentially with jitter up to
``US_SCROBBLE_BACKOFF_MAX_S``; a refused token (401) marks the target ``token_refused`` and its
listens wait (re-tried hourly, at once when the token is replaced); a listen the receiver refuses
on its own (400/409/413/422, or a 500 three times while the receiver accepts the token) is kept
as ``refused`` with the reason, so one bad listen never blocks the ones after it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from us_control.models import ScrobbleOutbox, ScrobbleTarget
from us_control.scrobble import repository as repo
from us_control.scrobble.listen_payload import listen_json
from us_control.scrobble.listenbrainz import Answer, ListenType, Outcome
from us_control.scrobble.runtime import ScrobbleRuntime
from us_control.scrobble.tokens import TokenUnreadable
from us_control.settings import ControlSettings

log = structlog.get_logger(__name__)

MAX_BATCH_BYTES = 512 * 1024
# A listen answered with HTTP 500 this often, alone, while the receiver takes the token, is refused.
LONE_500_LIMIT = 3


@dataclass
class _Verdict:
    """What one answer does to the target (applied in the lock's transaction)."""

    condition: str | None = None  # new condition, None: unchanged
    error: str | None = None
    failure: bool = False
    wait_s: float | None = None
    delivered: int = 0


def backoff_s(settings: ControlSettings, failures: int) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(failures-1), capped."""
    ceiling = min(settings.scrobble_backoff_max_s, settings.scrobble_backoff_base_s * 2 ** max(0, failures - 1))
    return random.uniform(ceiling / 2, ceiling)


def choose_batch(entries: Sequence[ScrobbleOutbox], max_bytes: int = MAX_BATCH_BYTES) -> list[ScrobbleOutbox]:
    """The next request's listens: the oldest alone when it may be there already, else the run
    of oldest listens that certainly are not, within ``max_bytes``."""
    if not entries:
        return []
    if entries[0].maybe_sent:
        return [entries[0]]
    batch: list[ScrobbleOutbox] = []
    size = 0
    for entry in entries:
        if entry.maybe_sent:
            break
        size += len(json.dumps(listen_json(entry.listened_at, entry.track_metadata)))
        if batch and size > max_bytes:
            break
        batch.append(entry)
    return batch


async def _committed(sessions: async_sessionmaker[AsyncSession], entry_uuids: list[UUID]) -> None:
    async with sessions() as db:
        await repo.mark_maybe_sent(db, entry_uuids)
        await db.commit()


_APPLY = text(
    """
    UPDATE scrobble_target SET
        condition = COALESCE(CAST(:condition AS varchar), condition),
        failures = CASE WHEN CAST(:failure AS boolean) THEN failures + 1
                        WHEN CAST(:condition AS varchar) = 'ok' THEN 0 ELSE failures END,
        last_error = CASE WHEN CAST(:condition AS varchar) = 'ok' AND CAST(:error AS varchar) IS NULL THEN NULL
                          ELSE COALESCE(CAST(:error AS varchar), last_error) END,
        next_attempt_at = clock_timestamp() + make_interval(secs => CAST(:wait_s AS double precision)),
        updated_at = clock_timestamp()
    WHERE target_uuid = :target_uuid AND token_generation = :generation
    RETURNING failures
    """
)
_COUNT_DELIVERED = text(
    """
    UPDATE scrobble_target SET delivered = delivered + :n, last_delivered_at = clock_timestamp()
    WHERE target_uuid = :target_uuid
    """
)


async def _apply(
    db: AsyncSession, settings: ControlSettings, target: ScrobbleTarget, verdict: _Verdict
) -> None:
    if verdict.delivered:
        await db.execute(_COUNT_DELIVERED, {"n": verdict.delivered, "target_uuid": target.target_uuid})
    wait = verdict.wait_s
    if verdict.failure:
        wait = max(wait or 0.0, backoff_s(settings, target.failures + 1))
    if verdict.condition == "token_refused":
        wait = max(wait or 0.0, settings.scrobble_token_recheck_s)
    # Rows of a target whose token changed meanwhile are left alone: the new token gets a fresh try.
    await db.execute(
        _APPLY,
        {
            "condition": verdict.condition,
            "failure": verdict.failure,
            "error": verdict.error[:500] if verdict.error else None,
            "wait_s": max(wait or 0.0, settings.scrobble_min_interval_s),
            "target_uuid": target.target_uuid,
            "generation": target.token_generation,
        },
    )


def _verdict(answer: Answer) -> _Verdict:
    """The target-level meaning of an answer (entries are handled by the caller)."""
    if answer.outcome == Outcome.TAKEN:
        return _Verdict(condition="ok", wait_s=answer.wait_s)
    if answer.outcome == Outcome.TOKEN_REFUSED:
        return _Verdict(condition="token_refused", error=f"the receiver refused the token ({answer.error})")
    if answer.outcome == Outcome.RATE_LIMITED:
        return _Verdict(error=f"rate limited by the receiver ({answer.error})", wait_s=answer.wait_s or 60.0)
    if answer.outcome == Outcome.REJECTED:
        return _Verdict(error=answer.error, wait_s=answer.wait_s)
    return _Verdict(condition="failing", error=answer.error, failure=True, wait_s=answer.wait_s)


async def _send_now_playing(
    runtime: ScrobbleRuntime, db: AsyncSession, target: ScrobbleTarget, token: str
) -> _Verdict | None:
    announcement = await repo.now_playing(db, target.target_uuid)
    if announcement is None:
        return None
    await repo.drop_now_playing(db, target.target_uuid, announcement.created_at)
    fresh = (await db.execute(text("SELECT :at > clock_timestamp()"), {"at": announcement.expires_at})).scalar()
    if not fresh:
        return None
    answer = await runtime.client.submit(
        target.base_url, token, "playing_now", [{"track_metadata": announcement.track_metadata}]
    )
    log.info("scrobble_sent", target_uuid=str(target.target_uuid), listen_type="playing_now",
             listens=0, outcome=answer.outcome.value, status=answer.status)
    verdict = _verdict(answer)
    # A failed announcement is not worth a backoff of its own; the listens will find out.
    return verdict if answer.outcome in (Outcome.TAKEN, Outcome.TOKEN_REFUSED, Outcome.RATE_LIMITED) else _Verdict()


async def _send_listens(
    runtime: ScrobbleRuntime,
    sessions: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    target: ScrobbleTarget,
    token: str,
) -> _Verdict | None:
    settings = runtime.settings
    batch = choose_batch(await repo.pending_head(db, target.target_uuid, settings.scrobble_batch_size))
    if not batch:
        return None
    ids = [e.entry_uuid for e in batch]
    await _committed(sessions, ids)
    listen_type: ListenType = "single" if len(batch) == 1 else "import"
    answer = await runtime.client.submit(
        target.base_url, token, listen_type, [listen_json(e.listened_at, e.track_metadata) for e in batch]
    )
    log.info("scrobble_sent", target_uuid=str(target.target_uuid), listen_type=listen_type,
             listens=len(batch), resend=batch[0].maybe_sent, outcome=answer.outcome.value, status=answer.status)
    verdict = _verdict(answer)
    if answer.outcome == Outcome.TAKEN:
        await repo.remove_delivered(db, ids)
        verdict.delivered = len(batch)
    elif answer.outcome in (Outcome.TOKEN_REFUSED, Outcome.RATE_LIMITED, Outcome.NOT_SENT):
        await repo.mark_not_sent(db, ids)  # nothing was stored: the batch may go as one again
    elif answer.outcome == Outcome.REJECTED and len(batch) == 1:
        await repo.mark_refused(db, ids, answer.error or "refused by the receiver")
    elif len(batch) == 1 and answer.status == 500 and batch[0].attempts + 1 >= LONE_500_LIMIT:
        if await _receiver_healthy(runtime, target, token):
            await repo.mark_refused(db, ids, f"{answer.error} to this listen {LONE_500_LIMIT} times")
            verdict = _Verdict(error=f"one listen refused: {answer.error}")
    # REJECTED batches and UNKNOWN outcomes keep maybe_sent: each of those listens goes alone next.
    return verdict


async def _receiver_healthy(runtime: ScrobbleRuntime, target: ScrobbleTarget, token: str) -> bool:
    try:
        return (await runtime.client.validate_token(target.base_url, token)).valid
    except Exception:  # noqa: BLE001 - unreachable or odd: not healthy, keep the listen
        return False


async def serve_one(runtime: ScrobbleRuntime, sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Serve one due target (one request); False when no target needs anything."""
    async with sessions() as db:
        target: ScrobbleTarget | None = None
        for target_uuid in await repo.due_targets(db, limit=20):
            if await repo.try_lock_target(db, target_uuid):
                target = await repo.load_due_target(db, target_uuid)
                if target is not None:
                    break
        if target is None:
            await db.rollback()
            return False
        verdict = await _serve(runtime, sessions, db, target)
        if verdict is not None:
            await _apply(db, runtime.settings, target, verdict)
        await db.commit()
        return True


async def _serve(
    runtime: ScrobbleRuntime,
    sessions: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    target: ScrobbleTarget,
) -> _Verdict | None:
    if runtime.sealer is None:
        return _Verdict(condition="failing", error="scrobbling is not configured (US_SCROBBLE_TOKEN_KEY)",
                        wait_s=runtime.settings.scrobble_token_recheck_s)
    try:
        token = runtime.sealer.open(target.token_sealed, target.target_uuid)
    except TokenUnreadable:
        return _Verdict(condition="token_refused",
                        error="the stored token no longer opens (was US_SCROBBLE_TOKEN_KEY changed?): enter it again")
    return await _send_now_playing(runtime, db, target, token) or await _send_listens(
        runtime, sessions, db, target, token
    )


async def scrobble_sender(app: FastAPI) -> None:
    """The background loop (``background.py``): ``US_SCROBBLE_SENDERS`` tasks per worker."""
    runtime: ScrobbleRuntime = app.state.scrobble
    settings = runtime.settings

    async def worker() -> None:
        while True:
            try:
                busy = await serve_one(runtime, app.state.sessions)
            except Exception as exc:  # noqa: BLE001 - Postgres down or a bug: log, wait, go on
                log.warning("scrobble_sender_failed", error_type=type(exc).__name__)
                busy = False
            if not busy:
                await asyncio.sleep(settings.scrobble_poll_interval_s * random.uniform(0.5, 1.5))

    tasks: list[Any] = [worker() for _ in range(settings.scrobble_senders)]
    await asyncio.gather(*tasks)
