"""``us-speaker run``: the long-running speaker, as systemd starts it.

Five tasks, each owning one thing, all feeding one :class:`~us_speaker.player.Player`:

| task | does |
|---|---|
| events | follows ``GET /events`` (SSE) and offers every session state to the player; reconnects with ``Last-Event-ID`` and a capped backoff; 15 s without an event (beacons come every 3-5 s) counts as a dead connection |
| heartbeat | ``PATCH /devices/heartbeat`` every ``heartbeat_interval_s`` (every 2 s while failing); the time of the last acknowledged one is the box's lease |
| ticker | 4 times a second: fences the player when the lease is older than 80 % of the presence window, and wakes it for drift, preloading and retries |
| mpv | starts mpv, waits for it to die, starts another (0.5 s, doubling to 10 s while it keeps dying) |
| player | the reconciler (``player.py``) |

A network loss or a server restart is only a longer wait in the events and heartbeat loops: what
mpv has loaded keeps playing (whole tracks are in its cache) until the lease runs out. A refused
credential (:class:`~us_speaker.api.Unpaired`) stops everything with exit status 3 (systemd does
not restart on it: the box must be paired again). SIGTERM sends a last heartbeat with
``"leaving": true`` (C1: the session pauses at once instead of after the presence window).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from typing import Any

import httpx
from httpx_sse import SSEError

from us_speaker.api import ApiError, SpeakerApi, Unpaired
from us_speaker.clock import ServerClock
from us_speaker.config import SpeakerConfig
from us_speaker.credentials import read_credentials
from us_speaker.mpv import Mpv, MpvError
from us_speaker.player import Player

log = logging.getLogger(__name__)

EXIT_UNPAIRED = 3
SILENCE_S = 15.0
LEASE_SHARE = 0.8
TICK_S = 0.25


class Speaker:
    def __init__(self, config: SpeakerConfig) -> None:
        self.config = config
        self.clock = ServerClock()
        self.api = SpeakerApi(read_credentials(config.credentials_path), config.credentials_path, self.clock)
        self.player = Player(self.api, self.clock)
        self.last_heartbeat_ok: float | None = None
        self.mpv: Mpv | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        tasks = [
            asyncio.create_task(coro, name=name)
            for name, coro in (
                ("mpv", self._mpv_loop()),
                ("heartbeat", self._heartbeat_loop()),
                ("events", self._events_loop()),
                ("ticker", self._ticker()),
                ("player", self.player.run()),
            )
        ]
        stop_wait = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait([*tasks, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        status = 0
        for task in done:
            if task is not stop_wait and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                if isinstance(exc, Unpaired):
                    log.error("%s", exc)
                    status = EXIT_UNPAIRED
                else:
                    log.error("task %s failed: %r", task.get_name(), exc)
                    status = 1
        for task in [*tasks, stop_wait]:
            task.cancel()
        await asyncio.gather(*tasks, stop_wait, return_exceptions=True)
        await self.player.aclose()
        if self.mpv is not None:
            await self.mpv.stop()
        if status != EXIT_UNPAIRED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.api.heartbeat(leaving=True), 2.0)
        await self.api.aclose()
        return status

    # --- loops --------------------------------------------------------------------------------

    async def _mpv_loop(self) -> None:
        backoff = 0.5
        while True:
            mpv = Mpv(self.config.mpv.path, self.config.mpv_socket, self.config.mpv.args(), self.player.on_mpv_event)
            started = time.monotonic()
            try:
                await mpv.start()
                await self.player.attach(mpv)
            except MpvError as exc:
                log.error("could not start mpv: %s", exc)
                await mpv.stop()
            else:
                self.mpv = mpv
                await mpv.closed.wait()
                self.player.detach()
                self.mpv = None
                code = mpv.process.returncode if mpv.process else None
                log.warning("mpv went away (exit %s): starting it again", code)
                await mpv.stop()
            backoff = 0.5 if time.monotonic() - started > 30 else min(backoff * 2, 10.0)
            await asyncio.sleep(backoff)

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.api.heartbeat()
                self.last_heartbeat_ok = time.monotonic()
                wait = self.config.heartbeat_interval_s
            except (httpx.HTTPError, ApiError) as exc:
                log.info("heartbeat failed: %s", exc)
                wait = min(2.0, self.config.heartbeat_interval_s)
            await asyncio.sleep(wait)

    async def _ticker(self) -> None:
        lease_s = self.config.presence_window_s * LEASE_SHARE
        while True:
            last = self.last_heartbeat_ok
            self.player.set_fenced(last is not None and time.monotonic() - last > lease_s)
            self.player.tick()
            await asyncio.sleep(TICK_S)

    async def _events_loop(self) -> None:
        last_event_id: str | None = None
        backoff = 0.25
        while True:
            try:
                async with self.api.events(last_event_id) as source:
                    log.info("following the session's events")
                    backoff = 0.25
                    async with asyncio.timeout(SILENCE_S) as silence:
                        async for event in source.aiter_sse():
                            silence.reschedule(asyncio.get_running_loop().time() + SILENCE_S)
                            received = time.monotonic()
                            if event.id:
                                last_event_id = event.id
                            self._on_event(event.event, event.data, received)
                    log.info("the event stream ended: reconnecting")
            except Unpaired:
                raise
            except TimeoutError:
                log.warning("no event for %.0f s: reconnecting", SILENCE_S)
            except (httpx.HTTPError, ApiError, SSEError) as exc:
                log.info("event stream unavailable (%s): retrying in %.2f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _on_event(self, name: str, data: str, received: float) -> None:
        try:
            payload: dict[str, Any] = json.loads(data)
            session = payload["session"]
        except (ValueError, KeyError, TypeError):
            return
        if isinstance(session.get("server_time_ms"), int):
            self.clock.observe(session["server_time_ms"], received)
        self.player.offer(session, str(payload.get("type") or name))


async def run_speaker(config: SpeakerConfig) -> int:
    return await Speaker(config).run()
