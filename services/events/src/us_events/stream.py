"""One client's SSE response: the queue's frames, a heartbeat, the end of the stream.

Deliberately not sse-starlette's ``EventSourceResponse``: it runs an anyio task group with four
tasks per connection (stream, ping, shutdown listener, disconnect listener), which measured
~54 KiB per idle connection against the ≤ 32 KiB target (docs/EVENTS.md). Here a connection is
the request's own task plus one waiter on ``receive()`` for the disconnect. Framing stays
sse-starlette's (``ServerSentEvent``, see ``frames.py``).

Whatever ends the response (client gone, stalled socket, server shutdown, max age), the
client's queue, timer and — when it was the user's last — subscription are freed in the
``finally``, even when the first byte never went out.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from us_events.feeds import Client
from us_events.frames import HEARTBEAT, goodbye_event
from us_events.hub import Hub
from us_events.settings import EventsSettings

log = structlog.get_logger(__name__)

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    # nginx: pass every byte through at once (it consumes this header).
    (b"x-accel-buffering", b"no"),
]


class ClientStream(Response):
    def __init__(self, hub: Hub, client: Client, settings: EventsSettings) -> None:
        super().__init__(status_code=200, media_type="text/event-stream")
        self._hub = hub
        self._client = client
        self._heartbeat_s = settings.heartbeat_interval_s
        self._send_timeout_s = settings.send_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self._client
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, client))
        try:
            await self._send(send, {"type": "http.response.start", "status": 200, "headers": _HEADERS})
            if scope.get("method") != "HEAD":
                await self._stream(send)
            if not client.gone:
                await self._send(send, {"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            # The socket accepted nothing for send_timeout_s: give up on this client.
            log.info("sse_client_stalled", device_uuid=client.device_uuid)
        finally:
            watcher.cancel()
            self._hub.detach(client)

    async def _stream(self, send: Send) -> None:
        client = self._client
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + self._heartbeat_s
        while not client.gone:
            if client.queue:
                # Whatever piled up goes out in one write (no local keeps it while the stream idles).
                await self._send(
                    send, {"type": "http.response.body", "body": _take(client), "more_body": True}
                )
                continue
            if client.closing is not None:
                await self._send(
                    send, {"type": "http.response.body", "body": goodbye_event(), "more_body": True}
                )
                return
            if loop.time() >= next_heartbeat:
                next_heartbeat = loop.time() + self._heartbeat_s
                await self._send(send, {"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
                continue
            client.waiter = loop.create_future()
            try:
                async with asyncio.timeout_at(next_heartbeat):
                    await client.waiter
            except TimeoutError:
                pass
            finally:
                client.waiter = None

    async def _send(self, send: Send, message: Message) -> None:
        async with asyncio.timeout(self._send_timeout_s):
            await send(message)


async def _watch_disconnect(receive: Receive, client: Client) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            client.gone = True
            client.wake()
            return


def _take(client: Client) -> bytes:
    chunk = b"".join(client.queue)
    client.queue.clear()
    return chunk
