"""The original request URI of a media request, parsed strictly (as the client sent it).

nginx hands the verifier ``$request_uri``: undecoded, unnormalised. Only one shape is accepted,
``/media/tracks/<lowercase uuid>`` with at most one query parameter, ``token``. Anything else —
percent-encoding in the path (``%2f``, ``%2e``), ``..``, doubled or trailing slashes, extra
segments, other or repeated parameters — is refused rather than interpreted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TRACK_PATH = re.compile(r"/media/tracks/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
# A compact JWS is base64url segments joined by dots; anything else cannot be one of ours.
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_MAX_URI_LEN = 8192


class BadMediaPath(ValueError):
    """The path is not exactly ``/media/tracks/<uuid>``."""


class BadMediaQuery(ValueError):
    """The query is not exactly ``token=<jws>`` (the token is missing or unreadable)."""


@dataclass(frozen=True, slots=True)
class MediaUri:
    track_uuid: str  # canonical lowercase form, as control writes it in the token
    token: str


def parse_media_uri(raw_uri: str) -> MediaUri:
    """The track and token of ``raw_uri``; :class:`BadMediaPath` or :class:`BadMediaQuery`."""
    if len(raw_uri) > _MAX_URI_LEN:
        raise BadMediaPath("too long")
    path, has_query, query = raw_uri.partition("?")
    match = _TRACK_PATH.fullmatch(path)
    if match is None:
        raise BadMediaPath("not a track path")
    if not has_query:
        raise BadMediaQuery("missing")
    name, has_value, token = query.partition("=")
    if name != "token" or not has_value or _TOKEN.fullmatch(token) is None:
        # Covers a missing or empty token, other or repeated parameters and encoded characters.
        raise BadMediaQuery("missing" if not token else "malformed")
    return MediaUri(track_uuid=match.group(1), token=token)
