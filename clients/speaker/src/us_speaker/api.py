"""The public API as the box uses it: HTTP through nginx with its own device credential.

Access tokens are short (15 min) and bound to this device; the refresh token is good once. So:
one refresh at a time (a second one in parallel would present a token already rotated away, which
the server treats as a stolen copy and revokes the device), the new credential is written to disk
before anything else, a 401 triggers one refresh and one retry, and a refresh refused with
``invalid_grant`` means the device was forgotten (or its credential revoked): :class:`Unpaired`.
Every answer that carries ``server_time_ms`` is a clock sample.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import EventSource, aconnect_sse

from us_speaker.clock import ServerClock
from us_speaker.credentials import Credentials, write_credentials

PLATFORM = "us-speaker"
# Refresh this long before the access token expires.
_REFRESH_MARGIN_S = 60


class Unpaired(Exception):
    """The server no longer accepts this box's credential: pair it again."""


class ApiError(Exception):
    def __init__(self, status: int, detail: Any, retry_after: float | None = None) -> None:
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{status}: {detail}")


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return body.get("detail", body) if isinstance(body, dict) else body


class SpeakerApi:
    def __init__(self, credentials: Credentials, credentials_path: Path, clock: ServerClock) -> None:
        self.credentials = credentials
        self.credentials_path = credentials_path
        self.clock = clock
        self.device_uuid = credentials.device_uuid
        self.server_url = credentials.server_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.server_url, timeout=httpx.Timeout(10.0, connect=5.0))
        self.user_uuid: str | None = None
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._refresh_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- credential -----------------------------------------------------------------------------

    async def access_token(self, stale: str | None = None) -> str:
        """A valid access token; ``stale`` is one the server just refused (refresh past it)."""
        async with self._refresh_lock:
            fresh = self._token is not None and self._token != stale and time.monotonic() < self._token_renew_at
            if fresh:
                assert self._token is not None
                return self._token
            response = await self.http.post(
                "/auth/token",
                data={"grant_type": "refresh_token", "refresh_token": self.credentials.refresh_token},
            )
            if response.status_code == 400 and response.json().get("error") == "invalid_grant":
                raise Unpaired("the server refused this speaker's credential (forgotten?): pair it again")
            if response.status_code != 200:
                raise ApiError(response.status_code, _detail(response), _retry_after(response))
            body = response.json()
            self.credentials = Credentials(self.server_url, str(body["device_uuid"]), str(body["refresh_token"]))
            write_credentials(self.credentials_path, self.credentials)
            self._token = str(body["access_token"])
            self._token_renew_at = time.monotonic() + max(10, int(body["expires_in"]) - _REFRESH_MARGIN_S)
            return self._token

    # --- requests -------------------------------------------------------------------------------

    async def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        token = await self.access_token()
        for attempt in range(2):
            sent = time.monotonic()
            response = await self.http.request(
                method, path, json=body, params=params, headers={"Authorization": f"Bearer {token}"}
            )
            received = time.monotonic()
            if response.status_code == 401 and attempt == 0:
                token = await self.access_token(stale=token)
                continue
            if response.status_code == 401:
                raise Unpaired(f"the server refused this speaker's access token: {_detail(response)}")
            if response.status_code >= 400:
                raise ApiError(response.status_code, _detail(response), _retry_after(response))
            if response.status_code == 204 or not response.content:
                return None
            data = response.json()
            if isinstance(data, dict) and isinstance(data.get("server_time_ms"), int):
                self.clock.observe(data["server_time_ms"], received, sent)
            return data
        raise AssertionError("unreachable")

    async def whoami(self) -> str:
        me = await self.call("GET", "/users/me")
        self.user_uuid = str(me["user_uuid"])
        return self.user_uuid

    async def snapshot(self) -> dict[str, Any]:
        user = self.user_uuid or await self.whoami()
        result: dict[str, Any] = await self.call("GET", f"/sessions/{user}")
        return result

    async def heartbeat(self, leaving: bool = False) -> None:
        body: dict[str, Any] = {"device_uuid": self.device_uuid}
        if leaving:
            body["leaving"] = True
        await self.call("PATCH", "/devices/heartbeat", body)

    async def media_url(self, session_uuid: str, track_uuid: str) -> tuple[str, int]:
        """An absolute media URL for mpv and its expiry (epoch ms)."""
        token = await self.call(
            "POST", f"/sessions/{session_uuid}/media-token", {"device_uuid": self.device_uuid, "track_uuid": track_uuid}
        )
        return self.server_url + str(token["url"]), int(token["expires_at"])

    async def report(self, session_uuid: str, what: str, body: dict[str, Any]) -> dict[str, Any]:
        """``ended``, ``failed`` or ``seek`` as this device; retried with the same event uuid."""
        payload = {**body, "device_uuid": self.device_uuid, "client_event_uuid": body.get("client_event_uuid") or str(uuid.uuid4())}
        result: dict[str, Any] = await self.call("POST", f"/sessions/{session_uuid}/{what}", payload)
        return result

    async def queue_page(self, offset: int, limit: int = 200) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/queue", params={"offset": offset, "limit": limit})
        return result

    @asynccontextmanager
    async def events(self, last_event_id: str | None) -> AsyncIterator[EventSource]:
        """The device's event stream (``/events``); 401 → one refresh, then :class:`Unpaired`."""
        token = await self.access_token()
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            # No read timeout from httpx: the caller watches for silence (comments every 5-15 s).
            async with aconnect_sse(
                self.http,
                "GET",
                "/events",
                params={"device_uuid": self.device_uuid},
                headers=headers,
                timeout=httpx.Timeout(10.0, read=None),
            ) as source:
                status = source.response.status_code
                if status == 401 and attempt == 0:
                    token = await self.access_token(stale=token)
                    continue
                if status == 401:
                    raise Unpaired("the event gateway refused this speaker's access token")
                if status != 200:
                    await source.response.aread()
                    raise ApiError(status, _detail(source.response), _retry_after(source.response))
                yield source
                return


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
