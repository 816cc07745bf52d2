"""The box as a speaker: makes mpv play what the session says, while this device is the speaker.

One reconciler task owns every decision. Snapshots (events, command answers), mpv events and a
ticker only record what they saw and wake it; it compares the session (projected with the shared
clock) with what mpv does and issues the few commands that close the gap. So a burst of events
costs one pass, and no two coroutines ever steer mpv at once.

- **Not the speaker** (another device is, none is, or nothing is current): mpv holds nothing.
- **A new current track**: mint a media token, ``loadfile`` at the projected position; once mpv
  has started (``playback-restart``) a start later than 100 ms is corrected with one exact seek.
- **The timeline moved** (pause, play, seek, volume): set ``pause`` / ``seek`` / ``volume`` at
  once (one IPC call each, well under the 300 ms budget). Drift beyond 1.5 s while playing (a
  stall) is corrected once per 5 s; when mpv is *ahead* because our own ``ended`` arrived late
  (control was down), the shared timeline is moved to what is audible (``seek`` as this device,
  like the web player's re-anchoring) instead of replaying seconds.
- **Gapless**: 25 s before the end, the track that follows (``upnext.py``) is minted and
  appended to mpv's playlist; ``--gapless-audio --prefetch-playlist`` make mpv open it at once
  and play it without a gap. When mpv moves on by itself (``start-file`` of that entry), the box
  reports ``ended`` for the previous track (retried with one ``client_event_uuid`` until it is
  answered) and ignores snapshots that still name the old track while that report is in flight.
- **A track that cannot be played** (mint 404/409, or mpv errors more than 3 times in 20 s —
  each earlier error gets a fresh token and a reload at the projected position): ``failed`` with
  a short reason (C1); the track is not tried again until another track is current or someone
  presses play on it.
- **Fenced** (no acknowledged heartbeat for 80 % of the presence window, set by ``daemon.py``):
  mpv pauses. The server may already count this box offline and give the music to another device.
- **mpv died**: ``detach``; ``daemon.py`` starts a new one and ``attach`` loads the current track
  at the projected position again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from us_speaker.api import ApiError, SpeakerApi, Unpaired
from us_speaker.clock import ServerClock, projected_position_ms, timeline_moved
from us_speaker.mpv import Mpv, MpvError
from us_speaker.upnext import next_track

log = logging.getLogger(__name__)

ALIGN_PAUSED_MS = 60  # paused: mpv sits where the timeline does
ALIGN_MOVED_MS = 150  # after a seek/play: follow it
START_LATE_MS = 40  # after a (re)start: one correction if the start was this late
DRIFT_LIMIT_MS = 1500
DRIFT_COOLDOWN_S = 5.0
PRELOAD_AHEAD_MS = 25_000
# An end of file this far before the track's duration is a cut stream, not the end of the track.
EARLY_EOF_MS = 2000
MAX_ERRORS = 3
ERROR_WINDOW_S = 20.0
RETRY_S = 1.5
# A seek while playing aims this far ahead at most (what mpv measured it needs to restart).
MAX_SEEK_LEAD_MS = 250.0


@dataclass
class Entry:
    """A track in mpv's playlist: the loaded one (index 0) or the preloaded next one."""

    track_uuid: str
    duration_ms: int
    url: str
    entry_id: int | None = None


@dataclass
class Stats:
    loads: int = 0
    seeks: int = 0
    pauses: int = 0
    resumes: int = 0
    gapless_transitions: int = 0
    preloads: int = 0
    ended_reports: int = 0
    failed_reports: int = 0
    reanchors: int = 0
    mpv_errors: int = 0
    mpv_attached: int = 0
    fenced: int = 0


@dataclass
class _Wake:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    retry_at: float = 0.0


class Player:
    def __init__(self, api: SpeakerApi, clock: ServerClock) -> None:
        self.api = api
        self.clock = clock
        self.device_uuid = api.device_uuid
        self.snap: dict[str, Any] | None = None
        self.moved = True
        self.fenced = False
        self.stats = Stats()
        self._wake = _Wake()
        self.mpv: Mpv | None = None
        self._loadfile_index = False
        self.loaded: Entry | None = None
        self.queued: Entry | None = None
        self.finished = False  # the loaded track ran to its end and mpv is idle
        self.awaiting_restart = False
        self.start_check = False
        self.paused: bool | None = None
        self.volume: float | None = None
        self.last_pos_ms: float | None = None
        self.ending: str | None = None  # the track whose `ended` report is in flight
        self.reanchor_ok = False
        self.last_correction = 0.0
        self.errors: deque[float] = deque()
        self.given_up: str | None = None  # a track reported failed; not retried until the session moves
        self._next_cache: tuple[tuple[Any, ...], dict[str, Any] | None] | None = None
        self._queue_rev = 0
        self.idle = True  # mpv's idle-active: nothing loaded
        self.fatal: BaseException | None = None  # Unpaired from a background report
        # A file that fails while its loadfile is still being answered has no entry yet: the
        # error is kept here and applied once the entry is known.
        self._loading = False
        self._load_error: str | None = None
        self.seek_lead_ms = 0.0
        self._seek_sent: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- inputs -------------------------------------------------------------------------------

    def offer(self, snap: dict[str, Any], kind: str | None = None) -> None:
        """A session snapshot from an event or an answer; older revisions are ignored."""
        prev = self.snap
        if prev is not None and int(snap["revision"]) < int(prev["revision"]):
            return
        if kind in ("queue", "options") or prev is None or prev.get("queue_length") != snap.get("queue_length"):
            self._queue_rev += 1
        if timeline_moved(prev, snap):
            self.moved = True
        if self.given_up is not None and prev is not None and (
            snap.get("track_uuid") != self.given_up
            or (prev.get("play_state") != "playing" and snap.get("play_state") == "playing")
        ):
            self.given_up = None  # another track, or someone presses play on it: try again
        self.snap = snap
        log.debug(
            "session rev %s (%s): %s %s at %s ms, speaker %s",
            snap.get("revision"), kind, snap.get("play_state"), snap.get("track_uuid"), snap.get("position_ms"),
            snap.get("active_device_uuid"),
        )
        self.wake()

    def wake(self) -> None:
        self._wake.event.set()

    def set_fenced(self, fenced: bool) -> None:
        if fenced != self.fenced:
            self.fenced = fenced
            self.moved = True
            if fenced:
                self.stats.fenced += 1
                log.warning("no heartbeat acknowledged for too long: silent until the server answers again")
                # At once, not through the reconciler: it may be waiting on a request (a token,
                # the queue) that the dead link holds until its timeout.
                self._spawn(self._fence_now())
            self.wake()

    async def _fence_now(self) -> None:
        mpv = self.mpv
        if mpv is not None and self.paused is False:
            with contextlib.suppress(MpvError):
                await self._set_pause(mpv, True)

    async def attach(self, mpv: Mpv) -> None:
        version = str(await mpv.get("mpv-version"))
        self._loadfile_index = _version(version) >= (0, 38)
        self._reset_mpv_state()
        for name in ("time-pos", "pause", "volume", "idle-active"):
            await mpv.observe(name)  # each answers with the current value at once
        self.mpv = mpv
        self.stats.mpv_attached += 1
        log.info("mpv ready (%s, pid %s)", version, mpv.pid)
        self.wake()

    def detach(self) -> None:
        self.mpv = None
        self._reset_mpv_state()
        self.wake()

    def _reset_mpv_state(self) -> None:
        self.loaded = self.queued = None
        self.finished = self.awaiting_restart = self.start_check = False
        self.paused = self.volume = self.last_pos_ms = None
        self.moved = True

    def on_mpv_event(self, message: dict[str, Any], at: float) -> None:
        name = message.get("event")
        if name != "property-change":
            log.debug("mpv: %s", message)
        if name == "property-change":
            value = message.get("data")
            if message.get("name") == "time-pos" and isinstance(value, int | float):
                self.last_pos_ms = float(value) * 1000
            elif message.get("name") == "pause" and isinstance(value, bool):
                self.paused = value
            elif message.get("name") == "volume" and isinstance(value, int | float):
                self.volume = float(value)
            elif message.get("name") == "idle-active" and isinstance(value, bool):
                self.idle = value
            return
        if name == "start-file":
            self._on_start_file(message.get("playlist_entry_id"))
        elif name == "end-file":
            self._on_end_file(message)
        elif name == "playback-restart":
            if self.awaiting_restart:  # the first start of a loaded file (not one after a seek)
                self.awaiting_restart = False
                self.start_check = True
            if self._seek_sent is not None:
                # How long mpv takes from a seek to sound: later seeks aim that much ahead.
                took_ms = (at - self._seek_sent) * 1000
                self.seek_lead_ms = min(MAX_SEEK_LEAD_MS, 0.7 * self.seek_lead_ms + 0.3 * took_ms)
                self._seek_sent = None
        else:
            return
        self.wake()

    def _on_start_file(self, entry_id: Any) -> None:
        queued, previous = self.queued, self.loaded
        if queued is None or previous is None or entry_id is None or queued.entry_id != entry_id:
            return
        # mpv moved on to the preloaded track by itself: a gapless change of track.
        ended_early = self.last_pos_ms is not None and self.last_pos_ms < previous.duration_ms - EARLY_EOF_MS
        self.loaded, self.queued = queued, None
        self.finished = False
        self.last_pos_ms = 0.0
        if ended_early:
            log.warning("track %s stopped early: reloading at the session's position", previous.track_uuid)
            self.loaded = None
            return
        self.stats.gapless_transitions += 1
        self._report_ended(previous.track_uuid)
        self._spawn(self._command("playlist-remove", 0))

    def _on_end_file(self, message: dict[str, Any]) -> None:
        entry_id, reason = message.get("playlist_entry_id"), message.get("reason")
        if self.queued is not None and entry_id == self.queued.entry_id and reason == "error":
            log.warning("preloading the next track failed (%s)", message.get("file_error"))
            self.queued = None
            return
        loaded = self.loaded
        if loaded is None and self._loading and reason == "error":
            self._load_error = str(message.get("file_error") or "error")
            return
        if loaded is None or entry_id != loaded.entry_id:
            return
        if reason == "eof":
            if self.queued is not None:
                return  # start-file of the preloaded one follows
            if self.last_pos_ms is not None and self.last_pos_ms < loaded.duration_ms - EARLY_EOF_MS:
                self._media_error(loaded, "the stream ended early")
                return
            self.finished = True
            self._report_ended(loaded.track_uuid)
        elif reason == "error":
            self._media_error(loaded, str(message.get("file_error") or "error"))

    def _media_error(self, entry: Entry, reason: str) -> None:
        self.stats.mpv_errors += 1
        now = time.monotonic()
        self.errors.append(now)
        while self.errors and self.errors[0] < now - ERROR_WINDOW_S:
            self.errors.popleft()
        self.loaded = self.queued = None
        if len(self.errors) > MAX_ERRORS:
            self.errors.clear()
            self.given_up = entry.track_uuid
            self._spawn(self._report_failed(entry.track_uuid, f"mpv: {reason}"[:200]))
        else:
            # Most likely a token that expired or was rotated under a new request: mint, reload.
            log.warning("playback error (%s): reloading at the session's position", reason)

    # --- the reconciler -----------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self._wake.event.wait()
            self._wake.event.clear()
            if self.fatal is not None:
                raise self.fatal
            try:
                await self.reconcile()
            except MpvError as exc:
                log.info("mpv command failed: %s", exc)
            except (httpx.HTTPError, ApiError) as exc:
                log.info("server unreachable while following the session: %s", exc)
                self._retry_later()

    def _retry_later(self, delay_s: float = RETRY_S) -> None:
        self._wake.retry_at = time.monotonic() + delay_s

    def tick(self) -> None:
        """Called a few times a second: drift, preloading and retries are checked on it."""
        if self.snap is not None and time.monotonic() >= self._wake.retry_at:
            self.wake()

    def is_speaker(self, snap: dict[str, Any] | None) -> bool:
        return bool(
            snap is not None
            and snap.get("active_device_uuid") == self.device_uuid
            and snap.get("track")
            and snap["track"].get("available", True)
        )

    async def reconcile(self) -> None:
        snap, mpv = self.snap, self.mpv
        if mpv is None or snap is None:
            return
        if not self.is_speaker(snap):
            await self._silence(mpv)
            return
        if self.fenced:
            if self.loaded is not None and self.paused is False:
                await self._set_pause(mpv, True)
            return
        want = str(snap["track_uuid"])
        loaded = self.loaded
        if loaded is None or loaded.track_uuid != want or (self.finished and self.ending is None):
            if self.ending == want:
                return  # our `ended` is on its way; mpv already plays what follows
            if self.given_up == want or time.monotonic() < self._wake.retry_at:
                return
            await self._load(mpv, want)
            return
        if self.ending is not None:
            return  # until the server answers our `ended`, its timeline is behind mpv's
        await self._align(mpv, snap, loaded)
        await self._preload(mpv, snap, loaded)

    async def _silence(self, mpv: Mpv) -> None:
        if self.loaded is not None or self.queued is not None or not self.idle:
            await mpv.command("stop")
            log.info("not the speaker: stopped")
        self.loaded = self.queued = None
        self.finished = False

    async def _load(self, mpv: Mpv, track_uuid: str) -> None:
        snap = self.snap
        assert snap is not None
        self.loaded = self.queued = None
        try:
            url = await self._mint(snap, track_uuid)
        except ApiError as exc:
            await self._mint_refused(exc, track_uuid)
            return
        snap = self.snap
        if snap is None or not self.is_speaker(snap) or snap["track_uuid"] != track_uuid or self.mpv is not mpv:
            self.wake()  # the session moved while we minted
            return
        playing = snap["play_state"] == "playing"
        start_s = projected_position_ms(snap, self.clock.now_ms()) / 1000
        if playing and start_s * 1000 >= int(snap["track"]["duration_ms"]) - 300:
            # The session's timeline is at the end of the track (mpv died there, or the box came
            # back late): nothing left to play; the server moves on when told.
            self._report_ended(track_uuid)
            return
        await self._set_pause(mpv, not playing)
        args: list[Any] = ["loadfile", url, "replace"]
        if self._loadfile_index:
            args.append(-1)
        args.append(f"start={start_s:.3f}")
        self._loading, self._load_error = True, None
        try:
            await mpv.command(*args)
            entry = Entry(track_uuid, int(snap["track"]["duration_ms"]), url, await self._entry_id(mpv, url))
        finally:
            self._loading = False
        if self._load_error is not None:
            self._media_error(entry, self._load_error)
            self.wake()
            return
        self.loaded, self.finished = entry, False
        self.awaiting_restart, self.start_check, self.moved = True, False, False
        self.last_pos_ms = start_s * 1000
        self.stats.loads += 1
        await self._set_volume(mpv, snap)
        log.info("playing %s from %.3f s (%s)", track_uuid, start_s, snap["play_state"])

    async def _mint(self, snap: dict[str, Any], track_uuid: str) -> str:
        url, _expires_at = await self.api.media_url(str(snap["session_uuid"]), track_uuid)
        return url

    async def _mint_refused(self, exc: ApiError, track_uuid: str) -> None:
        if exc.status == 403:
            # Not the speaker any more (the event is on its way): ask, do not guess.
            self.offer(await self.api.snapshot())
        elif exc.status in (404, 409):
            self.given_up = track_uuid
            await self._report_failed(track_uuid, f"http {exc.status}")
        else:
            self._retry_later(exc.retry_after or RETRY_S)

    async def _entry_id(self, mpv: Mpv, url: str) -> int | None:
        for entry in await mpv.get("playlist") or []:
            if entry.get("filename") == url:
                return int(entry["id"]) if "id" in entry else None
        return None

    async def _align(self, mpv: Mpv, snap: dict[str, Any], loaded: Entry) -> None:
        # A pause goes first, before anything is asked of mpv: it is the command people time.
        playing = snap["play_state"] == "playing"
        if not playing and self.paused is not True:
            await self._set_pause(mpv, True)
            self.stats.pauses += 1
        await self._set_volume(mpv, snap)
        if self.awaiting_restart:
            if playing and self.paused is not False:
                await self._set_pause(mpv, False)
            return
        desired = projected_position_ms(snap, self.clock.now_ms())
        pos_s = await mpv.get("time-pos")
        if self.loaded is not loaded or self.mpv is not mpv or self.snap is not snap:
            # Something changed while we asked mpv, and this answer is about the past: mpv moved on
            # to the preloaded track (seeking now sent the next track past its end and broke the
            # gapless change), or a newer snapshot came (acting on the old one here consumed the
            # new one's "moved" flag: a remote seek was then taken for drift and undone by a
            # re-anchor). Either wakes the reconciler again; nothing is consumed here.
            return
        if not isinstance(pos_s, int | float):
            return
        pos = float(pos_s) * 1000
        moved, start_check, reanchor_ok = self.moved, self.start_check, self.reanchor_ok
        self.moved = self.start_check = self.reanchor_ok = False
        if not playing:
            if abs(pos - desired) > ALIGN_PAUSED_MS:
                await self._seek(mpv, desired)
            return
        if self.paused is not False:
            if abs(pos - desired) > ALIGN_PAUSED_MS:
                await self._seek(mpv, desired)
            await self._set_pause(mpv, False)
            self.stats.resumes += 1
            return
        off = pos - desired
        now = time.monotonic()
        if moved or start_check:
            limit = START_LATE_MS if start_check and not moved else ALIGN_MOVED_MS
            if abs(off) > limit:
                if off > 0 and reanchor_ok:
                    await self._reanchor(snap, pos)
                else:
                    await self._seek(mpv, desired, playing=True)
        elif abs(off) > DRIFT_LIMIT_MS and now - self.last_correction > DRIFT_COOLDOWN_S:
            self.last_correction = now
            if off > 0:
                await self._reanchor(snap, pos)
            else:
                await self._seek(mpv, desired, playing=True)

    async def _seek(self, mpv: Mpv, position_ms: float, playing: bool = False) -> None:
        if playing:
            position_ms += self.seek_lead_ms
        log.debug("seek to %.0f ms", position_ms)
        self._seek_sent = time.monotonic()
        await mpv.command("seek", round(position_ms / 1000, 3), "absolute+exact")
        self.last_pos_ms = position_ms
        self.stats.seeks += 1

    async def _set_pause(self, mpv: Mpv, paused: bool) -> None:
        paused = paused or self.fenced  # a reconcile that was waiting on the network never resumes a fenced box
        await mpv.set("pause", paused)
        self.paused = paused  # no property-change comes when the value was already this

    async def _set_volume(self, mpv: Mpv, snap: dict[str, Any]) -> None:
        want = float(snap.get("volume_percent", 100))
        if self.volume is None or abs(self.volume - want) > 0.5:
            await mpv.set("volume", want)
            self.volume = want

    async def _reanchor(self, snap: dict[str, Any], position_ms: float) -> None:
        """Move the shared timeline to what this speaker really plays."""
        self.stats.reanchors += 1
        duration = int(snap["track"]["duration_ms"])
        body = {"position_ms": max(0, min(round(position_ms), duration))}
        log.info("moving the session to what is audible: %d ms", body["position_ms"])
        with contextlib.suppress(ApiError):
            self.offer(await self.api.report(str(snap["session_uuid"]), "seek", body))

    async def _preload(self, mpv: Mpv, snap: dict[str, Any], loaded: Entry) -> None:
        if self.queued is not None or snap["play_state"] != "playing" or self.last_pos_ms is None:
            return
        if loaded.duration_ms - self.last_pos_ms > PRELOAD_AHEAD_MS:
            return
        key = (snap["track_uuid"], snap.get("queue_position"), snap.get("shuffle"), snap.get("repeat_mode"), self._queue_rev)
        if self._next_cache is None or self._next_cache[0] != key:
            self._next_cache = (key, await next_track(snap, self.api.queue_page))
        following = self._next_cache[1]
        if following is None:
            return
        try:
            url = await self._mint(snap, str(following["track_uuid"]))
        except ApiError as exc:
            if exc.status in (404, 409):
                self._next_cache = (key, None)  # unplayable: the server will skip it; no preload
            return
        if self.loaded is not loaded or self.mpv is not mpv or self.queued is not None:
            return
        await mpv.command("loadfile", url, "append")
        self.queued = Entry(str(following["track_uuid"]), int(following["duration_ms"]), url, await self._entry_id(mpv, url))
        self.stats.preloads += 1
        log.info("preloaded %s", following["track_uuid"])

    # --- reports ------------------------------------------------------------------------------

    def _report_ended(self, track_uuid: str) -> None:
        # Set now, not when the task first runs: the reconciler must already know.
        self.ending = track_uuid
        self._spawn(self._send_ended(track_uuid))

    async def _send_ended(self, track_uuid: str) -> None:
        snap = self.snap
        if snap is None:
            self.ending = None
            return
        body = {"track_uuid": track_uuid, "client_event_uuid": str(uuid.uuid4())}
        try:
            answer = await self._deliver(str(snap["session_uuid"]), "ended", body)
            self.stats.ended_reports += 1
        finally:
            self.ending = None
        self.reanchor_ok = True
        if answer is not None:
            self.offer(answer)
        self.wake()

    async def _report_failed(self, track_uuid: str, reason: str) -> None:
        snap = self.snap
        if snap is None:
            return
        log.warning("cannot play %s: %s", track_uuid, reason)
        body = {"track_uuid": track_uuid, "reason": reason, "client_event_uuid": str(uuid.uuid4())}
        answer = await self._deliver(str(snap["session_uuid"]), "failed", body)
        self.stats.failed_reports += 1
        if answer is not None:
            self.offer(answer)

    async def _deliver(self, session_uuid: str, what: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send a report until the server answers it (same event uuid: applied once)."""
        delay = 0.25
        for _ in range(120):
            try:
                return await self.api.report(session_uuid, what, body)
            except Unpaired:
                raise
            except ApiError as exc:
                if exc.status < 500 and exc.status != 429:
                    # 409: not the speaker any more; 404: gone. The session says what is true.
                    log.info("%s refused (%s)", what, exc)
                    with contextlib.suppress(httpx.HTTPError, ApiError):
                        self.offer(await self.api.snapshot())
                    return None
                await asyncio.sleep(exc.retry_after or delay)
            except httpx.HTTPError:
                await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        return None

    async def _command(self, *args: Any) -> None:
        mpv = self.mpv
        if mpv is not None:
            with contextlib.suppress(MpvError):
                await mpv.command(*args)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and isinstance(task.exception(), Unpaired):
            self.fatal = task.exception()
            self.wake()
        elif not task.cancelled() and task.exception() is not None:
            log.warning("report failed: %r", task.exception())

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _version(text: str) -> tuple[int, int]:
    # "mpv 0.35.1" / "mpv v0.38.0-…"
    for word in text.split():
        parts = word.lstrip("v").split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1])
    return (0, 0)
