"""Calls to control's ``/internal`` routes (the events and media fallbacks when Redis misses).

One rule for both callers: every request carries a short service token (``svc+jwt``, ``sub`` =
the caller) signed with the caller's own key, renewed at half its life; a 404 means "no such
thing" and is ``None``; anything else unusable (down, slow, another status, unreadable JSON) is
:class:`ControlUnavailable`, so a caller can fail closed.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import httpx
import structlog

from us_common.jwt import TokenCodec

log = structlog.get_logger(__name__)

SERVICE_TOKEN_TTL_S = 60


class ControlUnavailable(Exception):
    """Control did not give a usable answer (down, slow, or an unexpected status)."""


class InternalClient:
    def __init__(
        self, http: httpx.AsyncClient, codec: TokenCodec, caller: Literal["events", "media"]
    ) -> None:
        self.http = http
        self._codec = codec
        self._caller = caller
        self._token = ""
        self._renew_at = 0.0

    def headers(self) -> dict[str, str]:
        now = time.time()
        if now >= self._renew_at:
            self._token = self._codec.encode({"sub": self._caller}, ttl_s=SERVICE_TOKEN_TTL_S, now=now)
            self._renew_at = now + SERVICE_TOKEN_TTL_S / 2
        return {"Authorization": f"Bearer {self._token}"}

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> Any | None:
        """The JSON answer, ``None`` for a 404, :class:`ControlUnavailable` otherwise."""
        try:
            response = await self.http.get(path, params=params, headers=self.headers())
        except httpx.HTTPError as exc:
            log.warning("control_fallback_failed", error_type=type(exc).__name__)
            raise ControlUnavailable from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("control_fallback_failed", status=response.status_code)
            raise ControlUnavailable
        try:
            return response.json()
        except ValueError as exc:
            log.warning("control_fallback_unreadable")
            raise ControlUnavailable from exc

    async def post(self, path: str, body: dict[str, Any]) -> int | None:
        """POST and return the status, or ``None`` when control could not be reached."""
        try:
            response = await self.http.post(path, json=body, headers=self.headers())
        except httpx.HTTPError as exc:
            log.warning("control_call_failed", error_type=type(exc).__name__)
            return None
        return response.status_code
