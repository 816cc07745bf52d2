"""What media asks control over loopback: the fallbacks for a Redis miss, and refusal reports.

Calls go through ``us_common.internal`` (service token ``sub=media``, signed with the media key).
Media never writes Redis (least privilege): control answers from Postgres and refills the cache,
and control counts refusals. Reports are fire-and-forget and bounded, so a slow control can never
slow a verification down or pile up tasks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import structlog

from us_common.internal import ControlUnavailable, InternalClient
from us_common.jwt import TokenCodec

log = structlog.get_logger(__name__)

_MAX_REPORTS_IN_FLIGHT = 64
__all__ = ["ControlClient", "ControlUnavailable", "SpeakerBinding", "TrackGrant"]


@dataclass(frozen=True, slots=True)
class SpeakerBinding:
    """What a media token must still match: the user's session, speaker epoch and speaker."""

    session_uuid: str | None
    media_epoch: int | None
    active_device_uuid: str | None


@dataclass(frozen=True, slots=True)
class TrackGrant:
    rel_path: str
    available: bool


class ControlClient:
    def __init__(self, http: httpx.AsyncClient, service_codec: TokenCodec) -> None:
        self._internal = InternalClient(http, service_codec, "media")
        self._reports: set[asyncio.Task[None]] = set()

    async def speaker_binding(self, user_uuid: str) -> SpeakerBinding | None:
        """From Postgres through control (which refills ``us:session:{user}``); None: no such user."""
        fields = await self._internal.get_json(f"/internal/sessions/{user_uuid}/cache")
        if fields is None:
            return None
        try:
            return SpeakerBinding(
                session_uuid=str(fields["session_uuid"]) or None,
                media_epoch=int(fields["media_epoch"]),
                active_device_uuid=str(fields.get("active_device_uuid") or "") or None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("control_fallback_unreadable")
            raise ControlUnavailable from exc

    async def track_grant(self, user_uuid: str, track_uuid: str) -> TrackGrant | None:
        """The catalog path of a track the user may access; None when it does not exist for them."""
        body = await self._internal.get_json(f"/internal/tracks/{track_uuid}", {"user_uuid": user_uuid})
        if body is None:
            return None
        try:
            return TrackGrant(rel_path=str(body["rel_path"]), available=bool(body["available"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("control_fallback_unreadable")
            raise ControlUnavailable from exc

    def report_refusal(self, user_uuid: str, reason: str) -> None:
        """Tell control, without waiting, that a validly signed token of the user was refused."""
        if len(self._reports) >= _MAX_REPORTS_IN_FLIGHT:
            log.warning("media_refusal_report_dropped", reason=reason)
            return
        task = asyncio.create_task(self._post_refusal(user_uuid, reason))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _post_refusal(self, user_uuid: str, reason: str) -> None:
        status = await self._internal.post(
            "/internal/media-refusals", {"user_uuid": user_uuid, "reason": reason}
        )
        if status != 202:
            log.warning("media_refusal_report_failed", status=status)

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Let reports in flight finish (shutdown), then cancel what is left."""
        pending = list(self._reports)
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=timeout_s)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
