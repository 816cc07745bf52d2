"""``GET /verify``: nginx's ``auth_request`` for every ``/media/tracks/…`` request.

The original URI arrives in ``X-Original-URI``. The answer is 200 with ``X-Media-Path`` (the
catalog path nginx serves with ``root`` + ``try_files``), 401 or 403 — never anything else, since
nginx turns any other status into a 500. The path header is sent as raw UTF-8 bytes: uvicorn
(httptools and h11 alike) passes bytes >= 0x80 through, nginx reads them as opaque bytes into
``$upstream_http_x_media_path`` and opens the file by those bytes. Starlette's header helpers
would encode latin-1 (wrong bytes, or an exception for other scripts), hence ``raw_headers``.

A plain Starlette route (no FastAPI dependency solving): it runs on every seek.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from us_media.verifier import MediaVerifier

_WWW_AUTHENTICATE = (b"www-authenticate", b'Bearer realm="media", error="invalid_token"')


async def verify(request: Request) -> Response:
    try:
        verifier: MediaVerifier = request.app.state.verifier
        verdict = await verifier.verify(request.headers.get("x-original-uri"))
    except Exception:  # noqa: BLE001 - only 200/401/403 may leave (the verifier already logs)
        return Response(status_code=403)
    response = Response(status_code=verdict.status)
    if verdict.allowed and verdict.rel_path is not None:
        response.raw_headers.append((b"x-media-path", verdict.rel_path.encode("utf-8")))
    elif verdict.status == 401:
        response.raw_headers.append(_WWW_AUTHENTICATE)
    return response
