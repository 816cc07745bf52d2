"""``GET /events`` served as plain ASGI: a stream lives for an hour, and what holds it should be small.

Through FastAPI an idle stream keeps the whole framework's call chain suspended under it: the
routing and exception-handling frames, three ``AsyncExitStack``s, the solved dependencies and a
``Request`` — about 9 of the 31 KiB one idle connection cost (tracemalloc, 600 connections;
docs/EVENTS.md, "Memory per connection"). This endpoint sits inside the request log and the
metrics middlewares (so a stream is logged and counted as before, under the route's template)
and in front of the router. It takes the common case itself — a GET with a well-formed
``device_uuid`` — with the very functions the route uses (``presented_token``,
``user_from_token``, ``Hub.open``, ``ClientStream``) and answers their refusals with the same
``{"detail": …}`` JSON. Everything else (another path or method, a missing or malformed
``device_uuid``) goes on to the route in ``routers/events.py``, which also gives the OpenAPI
schema; so the answers to odd requests (422 before or after 401, 405) stay FastAPI's own.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from us_common.errors import AppError, error_response
from us_events.api.routers import events
from us_events.auth import presented_token, user_from_token
from us_events.hub import Hub
from us_events.stream import ClientStream

EVENTS_PATH = "/events"
# The form clients send (and pydantic accepts); anything else is left to the route's validation.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class EventsEndpoint:
    """Answers a well-formed ``GET /events`` itself; everything else goes on to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The route's own object: the request log and the metrics read its template.
        self._route = next(r for r in events.router.routes if getattr(r, "path", None) == EVENTS_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != EVENTS_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        device_uuid = request.query_params.get("device_uuid")
        if device_uuid is None or not _CANONICAL_UUID.fullmatch(device_uuid):
            await self.app(scope, receive, send)
            return
        device_uuid = device_uuid.lower()
        state = request.app.state
        scope["route"] = self._route
        hub: Hub = state.hub
        try:
            user_uuid = user_from_token(state.access_codec, presented_token(request), device_uuid)
            client = await hub.open(user_uuid, device_uuid, request.headers.get("last-event-id"))
        except AppError as exc:
            await error_response(exc.status_code, exc.detail, exc.headers)(scope, receive, send)
            return
        del request  # nothing of the request outlives the opening
        await ClientStream(hub, client, state.settings)(scope, receive, send)
