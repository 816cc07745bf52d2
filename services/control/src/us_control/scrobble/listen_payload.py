"""A listen as ListenBrainz's JSON describes it (docs "Payload JSON details").

``listened_at`` is when the track started (ListenBrainz: "the playback start time"): the moment
the server counted the listen minus the time that really played. For a track played without a
pause that is exactly when it started; with pauses it is later, still while the track was current.
Strings are cut so that one listen stays far below ``MAX_LISTEN_SIZE``.

``duration`` is sent in seconds (not ``duration_ms``: ListenBrainz wants only one of the two, and
Maloja reads only ``duration``). ``tracknumber``/``discnumber`` when the tags have them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from us_control.library.tags import UNKNOWN_ALBUM
from us_control.models import Listen, Track

SUBMISSION_CLIENT = "UniversalScrobbler Playback"
SUBMISSION_CLIENT_VERSION = "0.1.0"
# At most 500 characters each (<= 2 KB in UTF-8): a listen stays well under MAX_LISTEN_SIZE.
_MAX_TEXT = 500


def _text(value: str) -> str:
    return value.strip()[:_MAX_TEXT]


def track_metadata(track: Track) -> dict[str, Any]:
    info: dict[str, Any] = {
        "media_player": SUBMISSION_CLIENT,
        "submission_client": SUBMISSION_CLIENT,
        "submission_client_version": SUBMISSION_CLIENT_VERSION,
    }
    if track.duration_ms >= 1000:
        info["duration"] = round(track.duration_ms / 1000)
    if track.track_number:
        info["tracknumber"] = track.track_number
    if track.disc_number:
        info["discnumber"] = track.disc_number
    metadata: dict[str, Any] = {
        "artist_name": _text(track.artist) or "Unknown Artist",
        "track_name": _text(track.title) or "Untitled",
        "additional_info": info,
    }
    if track.album_title and track.album_title != UNKNOWN_ALBUM:
        metadata["release_name"] = _text(track.album_title)
    return metadata


def started_at_s(listened_at: datetime, played_ms: int) -> int:
    """The epoch second the listen's play started (see the module docstring)."""
    return (round(listened_at.timestamp() * 1000) - played_ms) // 1000


def listen_started_at_s(listen: Listen) -> int:
    return started_at_s(listen.listened_at, listen.played_ms)


def listen_json(listened_at_s: int, metadata: dict[str, Any]) -> dict[str, Any]:
    return {"listened_at": listened_at_s, "track_metadata": metadata}
