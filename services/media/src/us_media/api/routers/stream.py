"""``GET /media/tracks/{track_uuid}?token=…`` served by the media service itself.

Off by default (``US_SELF_STREAM=false``): in production nginx serves the bytes with sendfile
after ``/verify`` said yes. For a setup without nginx the same verdict guards Starlette's
``FileResponse`` (its own Range support), with nginx's headers and Range semantics: 200 with
``Content-Length``, 206 with ``Content-Range``, 416 for an unsatisfiable or malformed ``bytes=``
range, a Range of another unit ignored; ``Accept-Ranges: bytes`` on 200/206/416,
``Content-Type: audio/flac``, ``Cache-Control: no-store``.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response
from starlette.types import Message, Receive, Scope, Send

from us_common.errors import error_response
from us_media.verifier import MediaVerifier

router = APIRouter(tags=["media"], include_in_schema=False)

_DETAIL = {401: "missing, malformed or expired media token", 403: "media token refused"}


def _original_uri(scope: Scope) -> str:
    """The request target as the client sent it (undecoded), like nginx's ``$request_uri``."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string") or b""
    return (raw_path + (b"?" + query if query else b"")).decode("latin-1")


class MediaFileResponse(Response):
    """A ``FileResponse`` adjusted to nginx's answers for the same request."""

    def __init__(self, path: str, size: int) -> None:
        super().__init__()
        self.path = path
        self.size = size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k != b"range" or v[:6].lower() == b"bytes="]
        scope = {**scope, "headers": headers}  # nginx ignores a Range of any other unit

        async def send_as_nginx(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"etag"]
                if status == 400:  # Starlette's "malformed range": nginx says 416
                    status = 416
                    raw.append((b"content-range", f"bytes */{self.size}".encode()))
                names = {k.lower() for k, _ in raw}
                if b"accept-ranges" not in names:
                    raw.append((b"accept-ranges", b"bytes"))
                if b"cache-control" not in names:
                    raw.append((b"cache-control", b"no-store"))
                message = {**message, "status": status, "headers": raw}
            await send(message)

        stat_result = os.stat(self.path)
        inner = FileResponse(
            self.path,
            media_type="audio/flac",
            headers={"cache-control": "no-store"},
            stat_result=stat_result,
        )
        await inner(scope, receive, send_as_nginx)


# ``{target:path}``: every URI under /media/tracks/ reaches the strict check (no slash redirects).
@router.api_route("/media/tracks/{target:path}", methods=["GET", "HEAD"])
async def stream_track(target: str, request: Request) -> Response:
    verifier: MediaVerifier = request.app.state.verifier
    verdict = await verifier.verify(_original_uri(request.scope))
    if not verdict.allowed or verdict.real_path is None:
        return error_response(
            verdict.status, _DETAIL.get(verdict.status, "refused"), {"Cache-Control": "no-store"}
        )
    try:
        size = os.stat(verdict.real_path).st_size
    except OSError:
        return error_response(404, "not found", {"Cache-Control": "no-store"})
    return MediaFileResponse(verdict.real_path, size)
