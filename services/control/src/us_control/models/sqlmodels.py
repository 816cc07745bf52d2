"""SQLModel tables, one class per table, in the requester's convention: explicit
``__tablename__``, ``<entity>_uuid`` primary keys, ``created_at`` with a Python default and a
server default. Every timestamp is timezone-aware UTC.
"""

from datetime import UTC, datetime
from typing import Any, Optional
from uuid import UUID, uuid4

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    UniqueConstraint,
    func,
)
from sqlmodel import Field, Relationship, SQLModel

# Alembic naming convention: stable, readable constraint names across migrations.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now_utc() -> datetime:
    return datetime.now(UTC)


def _created_at() -> Any:
    return Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


def _fk(target: str, ondelete: str = "CASCADE", nullable: bool = False) -> Column[UUID]:
    return Column(ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


class AppUser(SQLModel, table=True):
    __tablename__ = "appuser"

    user_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    username: str = Field(unique=True, max_length=32)
    password_hash: str
    created_at: datetime = _created_at()

    devices: list["Device"] = Relationship(back_populates="user")
    session: Optional["SessionState"] = Relationship(back_populates="user")


# --- catalog -------------------------------------------------------------------------------


class Library(SQLModel, table=True):
    __tablename__ = "library"

    library_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    # Relative to the music root ("" is the root itself); never absolute, never "..".
    rel_root: str = Field(unique=True)
    last_scan_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = _created_at()


class LibraryGrant(SQLModel, table=True):
    __tablename__ = "library_grant"

    user_uuid: UUID = Field(
        sa_column=Column(ForeignKey("appuser.user_uuid", ondelete="CASCADE"), primary_key=True)
    )
    library_uuid: UUID = Field(
        sa_column=Column(ForeignKey("library.library_uuid", ondelete="CASCADE"), primary_key=True)
    )
    created_at: datetime = _created_at()


class Album(SQLModel, table=True):
    __tablename__ = "album"
    __table_args__ = (UniqueConstraint("library_uuid", "artist", "title", name="uq_album_identity"),)

    album_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    library_uuid: UUID = Field(sa_column=_fk("library.library_uuid"))
    title: str
    artist: str  # the album artist
    year: int | None = None
    created_at: datetime = _created_at()

    tracks: list["Track"] = Relationship(back_populates="album")


class Track(SQLModel, table=True):
    __tablename__ = "track"
    __table_args__ = (UniqueConstraint("rel_path", name="uq_track_rel_path"),)

    track_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    library_uuid: UUID = Field(sa_column=_fk("library.library_uuid"))
    album_uuid: UUID | None = Field(
        default=None, sa_column=_fk("album.album_uuid", "SET NULL", nullable=True)
    )
    # Relative to the music root: the only path nginx is ever told to serve.
    rel_path: str
    size_bytes: int = Field(sa_type=BigInteger)
    mtime_ns: int = Field(sa_type=BigInteger)
    duration_ms: int
    sample_rate: int
    title: str
    artist: str
    album_title: str
    album_artist: str
    track_number: int | None = None
    disc_number: int | None = None
    has_cover: bool = False
    available: bool = True
    created_at: datetime = _created_at()
    updated_at: datetime = Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )

    album: Optional["Album"] = Relationship(back_populates="tracks")


# --- devices and the authoritative session -------------------------------------------------


class Device(SQLModel, table=True):
    __tablename__ = "device"

    device_uuid: UUID = Field(primary_key=True)
    user_uuid: UUID = Field(sa_column=_fk("appuser.user_uuid"))
    device_name: str = Field(max_length=100)
    device_platform: str | None = Field(default=None, max_length=100)
    last_seen: datetime = Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    created_at: datetime = _created_at()

    user: Optional["AppUser"] = Relationship(back_populates="devices")


class SessionState(SQLModel, table=True):
    """One row per user: the single source of truth of playback (DESIGN.md, Session)."""

    __tablename__ = "session_state"
    __table_args__ = (
        CheckConstraint("play_state IN ('playing','paused','stopped')", name="play_state"),
        CheckConstraint("repeat_mode IN ('off','one','all')", name="repeat_mode"),
        CheckConstraint("volume_percent BETWEEN 0 AND 100", name="volume_percent"),
        CheckConstraint("position_ms >= 0", name="position_ms"),
    )

    session_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    user_uuid: UUID = Field(
        sa_column=Column(ForeignKey("appuser.user_uuid", ondelete="CASCADE"), nullable=False, unique=True)
    )
    active_device_uuid: UUID | None = Field(
        default=None, sa_column=_fk("device.device_uuid", "SET NULL", nullable=True)
    )
    current_item_uuid: UUID | None = Field(
        default=None, sa_column=_fk("queue_item.item_uuid", "SET NULL", nullable=True)
    )
    track_uuid: UUID | None = Field(
        default=None, sa_column=_fk("track.track_uuid", "SET NULL", nullable=True)
    )
    position_ms: int = Field(default=0, sa_type=BigInteger)
    play_state: str = "stopped"
    # Shared wall clock (Postgres clock_timestamp, epoch ms) of the last timeline change.
    last_update_ms: int = Field(default=0, sa_type=BigInteger)
    revision: int = Field(default=0, sa_type=BigInteger)
    shuffle: bool = False
    repeat_mode: str = "off"
    volume_percent: int = 100
    # Bumped on every speaker change: media tokens carry it, so older ones die at once.
    media_epoch: int = 0
    # Listen accounting of the current item: real playing time, not position jumps.
    listened_ms: int = Field(default=0, sa_type=BigInteger)
    listen_recorded: bool = False
    updated_at: datetime = Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    created_at: datetime = _created_at()

    user: Optional["AppUser"] = Relationship(back_populates="session")


class AppliedEvent(SQLModel, table=True):
    """``client_event_uuid``s already applied, so a retried command changes nothing."""

    __tablename__ = "applied_event"

    user_uuid: UUID = Field(
        sa_column=Column(ForeignKey("appuser.user_uuid", ondelete="CASCADE"), primary_key=True)
    )
    client_event_uuid: UUID = Field(primary_key=True)
    revision: int = Field(sa_type=BigInteger)
    created_at: datetime = _created_at()


# --- queue, likes, listens -----------------------------------------------------------------


class QueueItem(SQLModel, table=True):
    __tablename__ = "queue_item"
    __table_args__ = (
        CheckConstraint("status IN ('queued','playing','played','failed')", name="status"),
        Index("ix_queue_item_user_idx", "user_uuid", "idx"),
    )

    item_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    user_uuid: UUID = Field(
        sa_column=Column(ForeignKey("appuser.user_uuid", ondelete="CASCADE"), nullable=False)
    )
    idx: int
    # Position in the session's shuffle permutation (null while shuffle is off).
    shuffle_idx: int | None = None
    track_uuid: UUID = Field(sa_column=_fk("track.track_uuid"))
    status: str = "queued"
    created_at: datetime = _created_at()


class TrackLike(SQLModel, table=True):
    __tablename__ = "track_like"

    user_uuid: UUID = Field(
        sa_column=Column(ForeignKey("appuser.user_uuid", ondelete="CASCADE"), primary_key=True)
    )
    track_uuid: UUID = Field(
        sa_column=Column(ForeignKey("track.track_uuid", ondelete="CASCADE"), primary_key=True)
    )
    created_at: datetime = _created_at()


class Listen(SQLModel, table=True):
    """A track that really played (half its length or 4 minutes, never under 30 s)."""

    __tablename__ = "listen"
    __table_args__ = (Index("ix_listen_user_listened_at", "user_uuid", "listened_at"),)

    listen_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    user_uuid: UUID = Field(
        sa_column=Column(ForeignKey("appuser.user_uuid", ondelete="CASCADE"), nullable=False)
    )
    track_uuid: UUID = Field(sa_column=_fk("track.track_uuid"))
    played_ms: int = Field(sa_type=BigInteger)
    listened_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_at: datetime = _created_at()
