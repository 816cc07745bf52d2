"""``/_auth/cover``: nginx's ``auth_request`` for ``/covers/<key>`` (never routed publicly).

nginx sends the original URI and the client's ``Authorization`` and ``Cookie`` headers; the
answer is 204 (send the file), 401 (not authenticated) or 403, which nginx turns into the same
404 a missing cover gets: a user who cannot see any album with that cover learns nothing. Only
2xx, 401 and 403 mean something to ``auth_request`` (anything else would be nginx's 500).
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Response

from us_common.errors import Forbidden
from us_control.deps import CurrentUser, UowDep
from us_control.library import service
from us_control.library.covers import is_cover_key

router = APIRouter(tags=["covers"], include_in_schema=False)


@router.get("/_auth/cover", status_code=204)
async def verify_cover(user: CurrentUser, uow: UowDep, x_original_uri: str = Header(default="")) -> Response:
    key = x_original_uri.split("?", 1)[0].removeprefix("/covers/")
    if not (is_cover_key(key) and await service.cover_allowed(uow.db, user.user_uuid, key)):
        raise Forbidden("no such cover")
    return Response(status_code=204)
