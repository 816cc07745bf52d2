"""Tables of the control service (the only writer of Postgres)."""

from us_control.models.sqlmodels import (
    Album,
    AppliedEvent,
    AppUser,
    Device,
    Library,
    LibraryGrant,
    Listen,
    QueueItem,
    SessionState,
    Track,
    TrackLike,
)

__all__ = [
    "Album",
    "AppUser",
    "AppliedEvent",
    "Device",
    "Library",
    "LibraryGrant",
    "Listen",
    "QueueItem",
    "SessionState",
    "Track",
    "TrackLike",
]
