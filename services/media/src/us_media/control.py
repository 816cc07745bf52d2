"""What media asks control over loopback: the fallbacks for a Redis miss, and refusal reports.

Every call carries a short service token (``svc+jwt``, ``sub=media``) signed with the media key.
Media never writes Redis (least privilege): control answers from Postgres and refills the cache,
and control counts refusals. Reports are fire-and-forget and bounded, so a slow control can never
slow a verification down or pile up tasks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import structlog

from us_common.jwt import TokenCodec

log = structlog.get_logger(__name__)

_SERVICE_TOKEN_TTL_S = 60
_MAX_REPORTS_IN_FLIGHT = 64


class ControlUnavailable(Exception):
    """Control did not give a usable answer (down, slow, or an unexpected status)."""


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
        self._http = http
        self._codec = service_codec
        self._token = ""
        self._token_renew_at = 0.0
        self._reports: set[asyncio.Task[None]] = set()

    def _headers(self) -> dict[str, str]:
        now = time.time()
        if now >= self._token_renew_at:
            self._token = self._codec.encode({"sub": "media"}, ttl_s=_SERVICE_TOKEN_TTL_S, now=now)
            self._token_renew_at = now + _SERVICE_TOKEN_TTL_S / 2
        return {"Authorization": f"Bearer {self._token}"}

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response | None:
        """The answer (``None`` for 404); :class:`ControlUnavailable` for anything unusable."""
        try:
            response = await self._http.get(path, params=params, headers=self._headers())
        except httpx.HTTPError as exc:
            log.warning("control_fallback_failed", error_type=type(exc).__name__)
            raise ControlUnavailable from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("control_fallback_failed", status=response.status_code)
            raise ControlUnavailable
        return response

    async def speaker_binding(self, user_uuid: str) -> SpeakerBinding | None:
        """From Postgres through control (which refills ``us:session:{user}``); None: no such user."""
        response = await self._get(f"/internal/sessions/{user_uuid}/cache")
        if response is None:
            return None
        try:
            fields = response.json()
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
        response = await self._get(f"/internal/tracks/{track_uuid}", {"user_uuid": user_uuid})
        if response is None:
            return None
        try:
            body = response.json()
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
        try:
            response = await self._http.post(
                "/internal/media-refusals",
                json={"user_uuid": user_uuid, "reason": reason},
                headers=self._headers(),
            )
        except httpx.HTTPError as exc:
            log.warning("media_refusal_report_failed", error_type=type(exc).__name__)
            return
        if response.status_code != 202:
            log.warning("media_refusal_report_failed", status=response.status_code)

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Let reports in flight finish (shutdown), then cancel what is left."""
        pending = list(self._reports)
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=timeout_s)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
