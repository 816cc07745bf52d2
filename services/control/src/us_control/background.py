"""Loops every control worker runs, safe with many workers and hosts.

- The presence sweeper persists the pause of sessions whose speaker went offline (no heartbeat
  within the presence window, or gone for good after saying it was leaving) and resets stale ones. Each
  candidate goes through the normal command path: the row lock serialises workers and the
  condition is re-checked under it, so a session is never paused twice or published twice.
- The resend loop re-publishes state whose publish failed while Redis was down.
- The cache reconciler repairs what the resend loop cannot: a worker that died with a failed
  publish in memory, or between its commit and its publish. A session changed recently whose
  cached revision is behind Postgres gets its cache refilled (no message: the gateways' beacons
  see the newer revision and send every screen the state).
- Applied ``client_event_uuid``s older than the retention are pruned.
- The scrobble sender delivers the outbox to each target (``scrobble/sender.py``).
- The library watcher (``library.watcher``) rescans what changed under the music root.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from fastapi import FastAPI
from sqlalchemy import text

from us_common.bus import SessionCache
from us_control.library.watcher import library_watcher
from us_control.playback import repository as repo
from us_control.playback.commands import settle_only
from us_control.playback.runner import read_snapshot, run_command
from us_control.scrobble.sender import scrobble_sender
from us_control.settings import ControlSettings
from us_control.uow import unit_of_work

log = structlog.get_logger(__name__)
Loop = Callable[[FastAPI], Coroutine[Any, Any, None]]

_CANDIDATES = text(
    """
    SELECT s.user_uuid FROM session_state s
    LEFT JOIN device d ON d.device_uuid = s.active_device_uuid
    WHERE (s.play_state = 'playing'
           AND (d.device_uuid IS NULL
                OR d.last_seen < clock_timestamp() - make_interval(secs => :window_s)
                OR d.left_at <= clock_timestamp() - make_interval(secs => :leave_grace_s)))
       OR (s.track_uuid IS NOT NULL AND (s.position_ms > 0 OR s.play_state = 'playing')
           AND s.last_update_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - :stale_ms)
    LIMIT 200
    """
)


async def sweep_once(app: FastAPI) -> int:
    settings: ControlSettings = app.state.settings
    async with app.state.sessions() as db:
        rows = await db.execute(
            _CANDIDATES,
            {
                "window_s": settings.presence_window_s,
                "leave_grace_s": settings.leave_grace_s,
                "stale_ms": settings.stale_session_s * 1000,
            },
        )
        users = [row.user_uuid for row in rows]
    changed = 0
    for user_uuid in users:
        async with unit_of_work(app.state.sessions, app.state.publisher) as uow:
            before = await repo.read_session(uow.db, user_uuid)
            revision = before.revision if before else None
            snapshot = await run_command(uow, settings, user_uuid, settle_only)
            changed += int(snapshot.revision != revision)
    return changed


async def presence_sweeper(app: FastAPI) -> None:
    settings: ControlSettings = app.state.settings
    sweeps = 0
    while True:
        await asyncio.sleep(settings.sweep_interval_s)
        try:
            paused = await sweep_once(app)
            if paused:
                log.info("sessions_settled_by_sweeper", count=paused)
            sweeps += 1
            if sweeps % 720 == 1:
                async with unit_of_work(app.state.sessions, app.state.publisher) as uow:
                    cutoff = datetime.now(UTC) - timedelta(seconds=settings.client_event_retention_s)
                    await repo.prune_applied_events(uow.db, cutoff)
        except Exception as exc:  # noqa: BLE001 - a sweep failing (DB down) must not kill the loop
            log.warning("sweep_failed", error_type=type(exc).__name__)


async def load_cache(app: FastAPI, user_uuid: UUID) -> SessionCache:
    """The committed state of one user, for the loops (outside any request)."""
    async with unit_of_work(app.state.sessions, app.state.publisher) as uow:
        _, cache = await read_snapshot(uow.db, app.state.settings, user_uuid)
    return cache


async def resend_unsent(app: FastAPI) -> None:
    async def load(user_uuid: UUID) -> SessionCache:
        return await load_cache(app, user_uuid)

    await app.state.publisher.run_resend_loop(load)


# Sessions changed within the window and not within the last moment (a publish may be on its way).
RECONCILE_INTERVAL_S = 2.0
_RECENTLY_CHANGED = text(
    """
    SELECT user_uuid, revision FROM session_state
    WHERE updated_at > clock_timestamp() - interval '10 minutes'
      AND updated_at < clock_timestamp() - interval '1 second'
    """
)


async def reconcile_once(app: FastAPI) -> int:
    """Refill every recently changed session whose cache lags Postgres; returns how many."""
    async with app.state.sessions() as db:
        rows = (await db.execute(_RECENTLY_CHANGED)).all()
    if not rows:
        return 0
    users = [row.user_uuid for row in rows]
    cached = await app.state.publisher.cached_revisions(users)
    repaired = 0
    for row, rev in zip(rows, cached, strict=True):
        if rev is not None and rev < row.revision:
            # A missing cache is fine (readers ask control); a lagging one would never heal.
            await app.state.publisher.store(row.user_uuid, await load_cache(app, row.user_uuid), None)
            log.warning("session_cache_repaired", user_uuid=str(row.user_uuid), cached=rev, rev=row.revision)
            repaired += 1
    return repaired


async def cache_reconciler(app: FastAPI) -> None:
    while True:
        await asyncio.sleep(RECONCILE_INTERVAL_S)
        try:
            await reconcile_once(app)
        except Exception as exc:  # noqa: BLE001 - Redis or Postgres down: the next round retries
            log.info("reconcile_failed", error_type=type(exc).__name__)


def background_loops() -> list[Loop]:
    return [presence_sweeper, resend_unsent, cache_reconciler, scrobble_sender, library_watcher]
