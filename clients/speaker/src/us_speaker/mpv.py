"""mpv in its own process, driven over its JSON IPC socket (``--input-ipc-server``).

Our own small asyncio client instead of python-mpv (libmpv in our process: a crash in a decoder
would take the speaker down) or python-mpv-jsonipc (a reader thread and blocking calls with
callbacks on that thread; we want one event loop, awaitable commands and events stamped with the
loop's clock as they arrive). The protocol is one JSON object per line: commands carry a
``request_id`` and get one reply with it; everything else is an event (``start-file``,
``end-file``, ``property-change`` of observed properties, …).

:class:`Mpv` starts the process, connects, and reports its death (socket closed or process gone)
through :attr:`Mpv.closed`; the caller starts a new one (see ``daemon.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# What a speaker needs from mpv: audio only, gapless across files, the next file opened ahead,
# whole tracks in memory (a FLAC album track is tens of MB) so a network drop or an expired media
# token never interrupts what is already loaded, and no terminal, config or state of a user.
BASE_ARGS = (
    "--idle=yes",
    "--no-config",
    "--no-terminal",
    "--no-video",
    "--audio-display=no",
    "--gapless-audio=yes",
    "--prefetch-playlist=yes",
    "--cache=yes",
    "--demuxer-max-bytes=256MiB",
    "--demuxer-max-back-bytes=256MiB",
    "--keep-open=no",
    "--save-position-on-quit=no",
    "--network-timeout=15",
    "--hr-seek=yes",
    # Nothing mpv would otherwise load for an http URL or a terminal: no youtube-dl hook, no
    # built-in scripts, no key bindings.
    "--ytdl=no",
    "--load-scripts=no",
    "--load-stats-overlay=no",
    "--load-osd-console=no",
    "--osc=no",
    "--input-default-bindings=no",
)
COMMAND_TIMEOUT_S = 5.0

EventHandler = Callable[[dict[str, Any], float], None]


class MpvError(Exception):
    """mpv answered a command with an error, or is not there any more."""


class Mpv:
    def __init__(
        self,
        executable: str,
        socket_path: Path,
        extra_args: Sequence[str],
        on_event: EventHandler,
    ) -> None:
        self.executable = executable
        self.socket_path = socket_path
        self.extra_args = list(extra_args)
        self.on_event = on_event
        self.process: asyncio.subprocess.Process | None = None
        self.closed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._observe_ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self, connect_timeout_s: float = 10.0) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.process = await asyncio.create_subprocess_exec(
            self.executable,
            *BASE_ARGS,
            f"--input-ipc-server={self.socket_path}",
            *self.extra_args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=None,  # mpv's own warnings go where ours go (the journal)
        )
        deadline = time.monotonic() + connect_timeout_s
        while True:
            try:
                reader, self._writer = await asyncio.open_unix_connection(str(self.socket_path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if self.process.returncode is not None or time.monotonic() > deadline:
                    await self.stop()
                    raise MpvError(f"mpv did not open its IPC socket (exit {self.process.returncode})") from None
                await asyncio.sleep(0.02)
        os.chmod(self.socket_path, 0o600)
        self._reader_task = asyncio.create_task(self._read(reader))
        self._watch_task = asyncio.create_task(self._watch_process())

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                at = time.monotonic()
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                request_id = message.get("request_id")
                if "event" in message:
                    self.on_event(message, at)
                elif request_id is not None and (future := self._pending.pop(request_id, None)):
                    if not future.done():
                        future.set_result(message)
        except (ConnectionError, OSError):
            pass
        finally:
            self._mark_closed()

    async def _watch_process(self) -> None:
        assert self.process is not None
        await self.process.wait()
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(MpvError("mpv went away"))
        self._pending.clear()

    async def command(self, *args: Any) -> Any:
        """Run one command; its ``data`` (or :class:`MpvError`)."""
        if self._writer is None or self.closed.is_set():
            raise MpvError("mpv is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(json.dumps({"command": list(args), "request_id": request_id}).encode() + b"\n")
            await self._writer.drain()
            reply = await asyncio.wait_for(future, COMMAND_TIMEOUT_S)
        except (ConnectionError, OSError, TimeoutError) as exc:
            self._pending.pop(request_id, None)
            raise MpvError(f"{args[0]}: {type(exc).__name__}") from exc
        if reply.get("error") != "success":
            raise MpvError(f"{args[0]}: {reply.get('error')}")
        return reply.get("data")

    async def get(self, name: str) -> Any:
        return await self.command("get_property", name)

    async def set(self, name: str, value: Any) -> None:
        await self.command("set_property", name, value)

    async def observe(self, name: str) -> None:
        await self.command("observe_property", next(self._observe_ids), name)

    async def stop(self) -> None:
        """Quit mpv (killed if it does not go within 2 s) and release everything."""
        if self._writer is not None and not self.closed.is_set():
            with contextlib.suppress(MpvError):
                await asyncio.wait_for(self.command("quit"), 1.0)
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        for task in (self._reader_task, self._watch_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._mark_closed()
