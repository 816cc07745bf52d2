"""``GET /verify``: nginx's ``auth_request`` for every ``/media/tracks/…`` request.

The original URI arrives in ``X-Original-URI``. The answer is 200 with ``X-Media-Path`` (the
catalog path nginx serves with ``root`` + ``try_files``), 401 or 403 — never anything else, since
nginx turns any other status into a 500. The path header is sent as raw UTF-8 bytes: uvicorn
(httptools and h11 alike) passes bytes >= 0x80 through, nginx reads them as opaque bytes into
``$upstream_http_x_media_path`` and opens the file by those bytes. Starlette's header helpers
would encode latin-1 (wrong bytes, or an exception for other scripts), hence raw headers.

It runs on every seek, so it is plain ASGI in front of the framework (no routing, no dependency
solving, no per-request log line for a "yes"; every refusal is logged with its reason by the
verifier, and nginx's access log has every media request).
"""

from __future__ import annotations

import re

import structlog
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from us_media.verifier import MediaVerifier

VERIFY_PATH = "/verify"
_REQUEST_ID_RE = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")
_WWW_AUTHENTICATE = (b"www-authenticate", b'Bearer realm="media", error="invalid_token"')
_EMPTY = {"type": "http.response.body", "body": b"", "more_body": False}

VERDICTS = Counter("us_media_verdicts", "Media verifications answered, by status (200, 401, 403).", ["status"])


class VerifyEndpoint:
    """Answers ``GET /verify`` itself; everything else goes on to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != VERIFY_PATH:
            await self.app(scope, receive, send)
            return
        status, headers = 403, [(b"content-length", b"0")]
        try:
            original_uri, request_id = None, None
            for name, value in scope["headers"]:
                if name == b"x-original-uri":
                    original_uri = value.decode("latin-1")
                elif name == b"x-request-id" and _REQUEST_ID_RE.match(value):
                    request_id = value.decode("ascii")
            structlog.contextvars.clear_contextvars()
            if request_id:
                structlog.contextvars.bind_contextvars(request_id=request_id)
            verifier: MediaVerifier = scope["app"].state.verifier
            verdict = await verifier.verify(original_uri)
            status = verdict.status
            if verdict.allowed and verdict.rel_path is not None:
                headers.append((b"x-media-path", verdict.rel_path.encode("utf-8")))
            elif status == 401:
                headers.append(_WWW_AUTHENTICATE)
        except Exception:  # noqa: BLE001 - only 200/401/403 may leave (the verifier already logs)
            status = 403
        finally:
            structlog.contextvars.clear_contextvars()
        VERDICTS.labels(str(status)).inc()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(_EMPTY)
