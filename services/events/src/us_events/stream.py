"""One client's SSE response: sse-starlette does framing, heartbeats, disconnect and shutdown.

Whatever ends the response (client gone, send timeout, server shutdown, max age), the client's
queue, timer and — when it was the user's last — subscription are freed in ``__call__``'s
``finally``, even when the body never started.
"""

from __future__ import annotations

import structlog
from sse_starlette.sse import EventSourceResponse, SendTimeoutError
from starlette.types import Receive, Scope, Send

from us_events.feeds import Client
from us_events.frames import HEARTBEAT, SEP
from us_events.hub import Hub
from us_events.settings import EventsSettings

log = structlog.get_logger(__name__)


class ClientStream(EventSourceResponse):
    def __init__(self, hub: Hub, client: Client, settings: EventsSettings) -> None:
        super().__init__(
            client.frames(),
            headers={"Cache-Control": "no-store"},  # sse-starlette adds X-Accel-Buffering: no
            ping=settings.heartbeat_interval_s,
            ping_message_factory=lambda: HEARTBEAT,
            sep=SEP,
            send_timeout=settings.send_timeout_s,
            shutdown_event=hub.shutdown_event,
            shutdown_grace_period=settings.shutdown_grace_s,
        )
        self._hub = hub
        self._client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            # The client accepted nothing for send_timeout_s: cut it off, keep the worker quiet.
            log.info("sse_client_stalled", device_uuid=self._client.device_uuid)
        finally:
            self._hub.detach(self._client)
