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
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
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


def _updated_at() -> Any:
    return Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


def _search_words() -> Any:
    """The words a row is found by (``library.folding.index_words``), for the GIN index."""
    return Field(
        default="",
        sa_type=TSVECTOR,
        sa_column_kwargs={"server_default": text("''::tsvector"), "nullable": False},
    )


def _folded() -> Any:
    """Text folded in Python (``library.folding``) and compared byte by byte, whatever the locale."""
    return Field(
        default="",
        sa_type=Text(collation="C"),
        sa_column_kwargs={"server_default": "", "nullable": False},
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
    # Kept by the scanner at the end of each scan, so a page never counts the whole table.
    track_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    album_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
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


class Artist(SQLModel, table=True):
    """An album artist, one row per name (case-insensitively) across libraries.

    A user sees an artist through the albums of it they can see; an artist with no album left
    is deleted by the scan that removed its last album.
    """

    __tablename__ = "artist"
    __table_args__ = (
        Index("ix_artist_search_words", "search_words", postgresql_using="gin"),
        Index("ix_artist_match_key", "match_key", "sort_key", "artist_uuid"),
        Index("ix_artist_sort_key", "sort_key", "artist_uuid"),
    )

    artist_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    name: str
    # The name as it sorts: a leading "The " / "A " dropped, or the ALBUMARTISTSORT tag.
    sort_name: str
    # name.casefold(): the artist's identity (the first spelling seen is the name shown).
    identity: str = Field(unique=True)
    sort_key: str = _folded()
    match_key: str = _folded()
    search_words: str = _search_words()
    created_at: datetime = _created_at()

    albums: list["Album"] = Relationship(back_populates="album_artist")


class Album(SQLModel, table=True):
    __tablename__ = "album"
    __table_args__ = (
        UniqueConstraint("library_uuid", "artist", "title", name="uq_album_identity"),
        Index("ix_album_search_words", "search_words", postgresql_using="gin"),
        # Album order ("sort=artist", search ties), carrying what a search walk filters on.
        Index(
            "ix_album_sort_key",
            "sort_key",
            "album_uuid",
            postgresql_include=["library_uuid", "search_words", "match_key"],
        ),
        Index("ix_album_match_key", "match_key", "sort_key", "album_uuid", postgresql_include=["library_uuid"]),
        Index("ix_album_name_key", "name_key", "album_uuid"),
        Index("ix_album_year", "year", "sort_key", "album_uuid"),
        Index("ix_album_genre", "genre", "sort_key", "album_uuid"),
        Index("ix_album_created_at", "created_at", "sort_key", "album_uuid"),
    )

    album_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    library_uuid: UUID = Field(sa_column=_fk("library.library_uuid"))
    artist_uuid: UUID | None = Field(
        default=None, sa_column=_fk("artist.artist_uuid", "SET NULL", nullable=True)
    )
    title: str
    artist: str  # the album artist
    # The earliest year and the most common genre of its tracks (set at the end of each scan).
    year: int | None = None
    genre: str | None = None
    # Every track of the album, available or not (set at the end of each scan).
    track_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Content address of the album's cover in the cover cache (None: no cover).
    cover_key: str | None = Field(default=None, index=True)
    # Where it came from ("embedded|file:<path>:<size>:<mtime_ns>"): a scan remakes it only
    # when that changes.
    cover_source: str | None = None
    # Album order: artist's sort key, then title ("sort=artist"); name order: title, then artist.
    sort_key: str = _folded()
    name_key: str = _folded()
    match_key: str = _folded()
    search_words: str = _search_words()
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()

    tracks: list["Track"] = Relationship(back_populates="album")
    album_artist: Optional["Artist"] = Relationship(back_populates="albums")


class Track(SQLModel, table=True):
    __tablename__ = "track"
    __table_args__ = (
        UniqueConstraint("rel_path", name="uq_track_rel_path"),
        Index("ix_track_search_words", "search_words", postgresql_using="gin"),
        # Browsing and searching in album order read this index only (no table rows) until the
        # page is found: deep offsets skip index entries, not rows.
        Index(
            "ix_track_sort_key",
            "sort_key",
            "track_uuid",
            postgresql_include=["library_uuid", "search_words", "match_key"],
        ),
        Index("ix_track_match_key", "match_key", "sort_key", "track_uuid", postgresql_include=["library_uuid"]),
        # An album's tracks in order: its page, its first track and cover source at the end of a
        # scan (per album, 17,000 of them at 200k tracks), the settle's counts, SET NULL on delete.
        Index("ix_track_album_sort", "album_uuid", "sort_key"),
    )

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
    year: int | None = None
    genre: str | None = None
    has_cover: bool = False
    # The album's cover (copied from it so every Track shape carries cover_url without a join).
    cover_key: str | None = None
    available: bool = True
    # Album order (album artist's sort name, album, disc, track, title, path) and the title's words.
    sort_key: str = _folded()
    match_key: str = _folded()
    search_words: str = _search_words()
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()

    album: Optional["Album"] = Relationship(back_populates="tracks")


class LibraryScan(SQLModel, table=True):
    """One scan of one library: its progress while it runs, its figures after
    (``GET /library/status``). The scanner keeps the latest few per library."""

    __tablename__ = "library_scan"
    __table_args__ = (Index("ix_library_scan_library_started", "library_uuid", "started_at"),)

    scan_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    library_uuid: UUID = Field(
        sa_column=Column(ForeignKey("library.library_uuid", ondelete="CASCADE"), nullable=False)
    )
    # Who started it: "command" (usctl), "watcher" (files changed), "periodic".
    trigger: str = Field(max_length=20)
    started_at: datetime = Field(default_factory=now_utc, sa_type=DateTime(timezone=True))
    # Touched by the running scanner every second or so: a stale heartbeat is a scan that died.
    heartbeat_at: datetime = Field(default_factory=now_utc, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    done: int = 0
    total: int | None = None
    errors: int = 0


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
    # Set by a "leaving" heartbeat (a tab closing or reloading), cleared by any sign of life.
    left_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = _created_at()

    user: Optional["AppUser"] = Relationship(back_populates="devices")


class DeviceAuthorization(SQLModel, table=True):
    """A pairing in progress (RFC 8628): a device asked for codes; a user approves or denies.

    Only hashes of the codes are stored. Times are the shared clock (epoch ms)."""

    __tablename__ = "device_authorization"
    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','denied','used')", name="status"),
    )

    authorization_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    device_code_hash: str = Field(unique=True, max_length=64)
    user_code_hash: str = Field(unique=True, max_length=64)
    # Chosen by the server when the codes are issued; the device row appears on approval.
    device_uuid: UUID
    requested_name: str = Field(max_length=100)
    client_id: str | None = Field(default=None, max_length=100)
    user_uuid: UUID | None = Field(default=None, sa_column=_fk("appuser.user_uuid", nullable=True))
    status: str = Field(default="pending", max_length=16)
    interval_s: int
    expires_at_ms: int = Field(sa_type=BigInteger)
    last_poll_ms: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = _created_at()


class DeviceCredential(SQLModel, table=True):
    """A paired device's long-lived credential: the hash of its current refresh token.

    Deleted with its device (forgetting a device revokes it); access tokens issued from it name
    it and are refused once it is gone."""

    __tablename__ = "device_credential"

    credential_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    device_uuid: UUID = Field(sa_column=_fk("device.device_uuid"))
    user_uuid: UUID = Field(sa_column=_fk("appuser.user_uuid"))
    refresh_token_hash: str = Field(unique=True, max_length=64)
    # The token it replaced: presenting that one again means it was copied (revoke everything).
    previous_token_hash: str | None = Field(default=None, max_length=64, index=True)
    rotated_at: datetime = Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    created_at: datetime = _created_at()


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
    # The most recent failed item: {"item_uuid", "track_uuid", "title", "reason", "at_ms"}.
    last_failure: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
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


# --- scrobbling (us_control.scrobble; docs/SCROBBLING.md) ---------------------------------


class ScrobbleTarget(SQLModel, table=True):
    """A ListenBrainz-compatible receiver of one user's listens (ListenBrainz, Maloja, Koito …)."""

    __tablename__ = "scrobble_target"
    __table_args__ = (
        UniqueConstraint("user_uuid", "base_url", name="uq_scrobble_target_user_base_url"),
        CheckConstraint("condition IN ('ok','failing','token_refused')", name="condition"),
    )

    target_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    user_uuid: UUID = Field(sa_column=_fk("appuser.user_uuid"))
    kind: str = Field(default="listenbrainz", max_length=32)
    # The API root; the sender appends /1/submit-listens (DESIGN.md "Scrobble targets").
    base_url: str = Field(max_length=2048)
    # AES-GCM under US_SCROBBLE_TOKEN_KEY, bound to target_uuid: a dump alone does not reveal it.
    token_sealed: bytes
    # Bumped when the token changes, so a refusal of the old token never marks the new one.
    token_generation: int = 1
    receiver_user: str | None = Field(default=None, max_length=200)
    paused: bool = False
    # How delivery goes (the API's "state" shows "paused" over this while paused).
    condition: str = Field(default="ok", max_length=16)
    failures: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    last_delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    delivered: int = Field(default=0, sa_type=BigInteger)
    # The sender leaves a target alone until then (rate limits, backoff, token re-checks).
    next_attempt_at: datetime = Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    created_at: datetime = _created_at()
    updated_at: datetime = Field(
        default_factory=now_utc,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


class ScrobbleOutbox(SQLModel, table=True):
    """One listen waiting for one target: written in the transaction that counts the listen.

    Delivered entries are deleted (the target keeps the count); refused ones stay, with the
    receiver's reason. ``maybe_sent`` is committed before each send: an entry left with it set
    may have reached the receiver, so it is resent alone (receivers drop a repeat of the same
    ``listened_at`` and track)."""

    __tablename__ = "scrobble_outbox"
    __table_args__ = (
        UniqueConstraint("target_uuid", "listen_uuid", name="uq_scrobble_outbox_target_listen"),
        CheckConstraint("state IN ('pending','refused')", name="state"),
        Index(
            "ix_scrobble_outbox_pending",
            "target_uuid",
            "listened_at",
            postgresql_where="state = 'pending'",
        ),
    )

    entry_uuid: UUID = Field(default_factory=uuid4, primary_key=True)
    target_uuid: UUID = Field(
        sa_column=Column(ForeignKey("scrobble_target.target_uuid", ondelete="CASCADE"), nullable=False)
    )
    listen_uuid: UUID = Field(sa_column=_fk("listen.listen_uuid"))
    # What is sent, fixed when the listen was counted: a resend carries the very same listen.
    listened_at: int = Field(sa_type=BigInteger)  # epoch seconds: when the track started
    track_metadata: dict[str, Any] = Field(sa_type=JSONB)
    state: str = Field(default="pending", max_length=16)
    maybe_sent: bool = False
    attempts: int = 0
    refused_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _created_at()


class ScrobbleNowPlaying(SQLModel, table=True):
    """The track a target should be told is playing now (best effort, dropped once stale)."""

    __tablename__ = "scrobble_now_playing"

    target_uuid: UUID = Field(
        sa_column=Column(ForeignKey("scrobble_target.target_uuid", ondelete="CASCADE"), primary_key=True)
    )
    track_metadata: dict[str, Any] = Field(sa_type=JSONB)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_at: datetime = _created_at()
