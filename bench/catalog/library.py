"""The bench's own library: N tracks planned from a seed, written as copies of one real FLAC.

A plan looks like a real collection: thousands of album artists (some "The …"/"A …"), albums of
6–16 tracks, compilations ("Various Artists", an artist per track), multi-disc sets in ``CD1``/
``CD2`` folders (half without a disc tag), unicode in every script, tracks without tags or
without an album artist, years and genres (some missing), folder covers (``cover.jpg``,
``folder.png``, ``front.jpg``) and embedded pictures.

Writing copies the template's STREAMINFO and audio frames and writes a fresh VORBIS_COMMENT
(and PICTURE) block per file, so 200,000 files take seconds, not the minutes mutagen would need.
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

WORDS = (
    "light dark river stone glass paper silver golden quiet loud morning evening night summer winter "
    "autumn spring ocean desert forest mountain city harbour garden window mirror shadow echo signal "
    "static orbit satellite engine machine heart blood fire water air earth storm thunder rain snow "
    "velvet iron copper neon electric magnetic crystal diamond broken hollow endless distant northern "
    "southern eastern western secret hidden lost found empty open closed wild gentle slow fast high "
    "low deep wide narrow bright pale red blue green black white violet amber coral indigo scarlet "
    "dream memory story song dance waltz march hymn ballad lullaby anthem requiem overture prelude "
    "fugue nocturne sonata theme variation interlude coda reprise lament rhapsody serenade elegy "
    "road bridge tower station island valley canyon meadow field shore coast horizon skyline "
    "avenue alley market palace temple chapel cathedral lighthouse tunnel railway highway "
    "king queen prince ghost angel devil stranger lover friend enemy soldier sailor pilot "
    "café señal ünïcødé naïve fiancée résumé jalapeño smörgåsbord straße façade déjà über "
    "mañana corazón canción noche ciudad été forêt rêve lumière mémoire søvn ælv fjørd "
    "東京 夜明け 月光 桜 ночь звезда музыка αστέρι θάλασσα 서울 바다"
).split()
GENRES = (
    "Rock Pop Jazz Classical Electronic Hip-Hop Folk Blues Soul Funk Metal Punk Reggae Country "
    "Ambient Techno House Disco R&B Indie Alternative Soundtrack World Latin Gospel Opera Ska "
    "Grunge Trip-Hop Drum & Bass"
).split()
COVER_NAMES = ("cover.jpg", "folder.png", "front.jpg", "Cover.JPG")


@dataclass(frozen=True, slots=True)
class PlannedTrack:
    rel_path: str  # relative to the library folder
    tags: dict[str, str]  # Vorbis comments; empty for a file without tags
    picture: bytes | None = None  # embedded front cover


@dataclass
class PlannedAlbum:
    folder: str
    title: str
    album_artist: str
    tracks: list[PlannedTrack] = field(default_factory=list)
    cover_file: tuple[str, bytes] | None = None  # a picture beside the tracks


def _phrase(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(low, high)))


def cover_image(rng: random.Random, size: int = 600, fmt: str = "JPEG") -> bytes:
    """A picture of its own colours (every album's cover hashes differently)."""
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(6):
        x, y = rng.randrange(size), rng.randrange(size)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, min(size, x + 90), min(size, y + 90)))
    out = io.BytesIO()
    image.save(out, fmt, quality=80)
    return out.getvalue()


def plan_library(track_count: int, seed: int = 11) -> list[PlannedAlbum]:
    rng = random.Random(seed)
    artist_count = max(1, track_count // 45)
    artists: list[str] = []
    seen: set[str] = set()
    while len(artists) < artist_count:
        name = _phrase(rng, 1, 3)
        roll = rng.random()
        name = f"The {name}" if roll < 0.2 else f"A {name}" if roll < 0.23 else name
        if name.lower() not in seen:
            seen.add(name.lower())
            artists.append(name)
    albums: list[PlannedAlbum] = []
    planned = 0
    while planned < track_count:
        compilation = rng.random() < 0.05
        album_artist = (
            "Various Artists"
            if compilation
            else artists[
                min(int(rng.paretovariate(1.2)) - 1, artist_count - 1)
                if rng.random() < 0.3
                else rng.randrange(artist_count)
            ]
        )
        title = _phrase(rng, 1, 4)
        year = None if rng.random() < 0.05 else rng.randint(1960, 2025)
        genre = None if rng.random() < 0.1 else rng.choice(GENRES)
        discs = rng.choice((2, 2, 3)) if rng.random() < 0.05 else 1
        folder = f"{album_artist}/{year or 'XXXX'} - {title} {len(albums)}"
        album = PlannedAlbum(folder, title, album_artist)
        roll = rng.random()
        embedded = cover_image(rng, 500) if roll < 0.05 else None
        if 0.05 <= roll < 0.25:
            name = rng.choice(COVER_NAMES)
            album.cover_file = (name, cover_image(rng, 600, "PNG" if name.endswith("png") else "JPEG"))
        for disc in range(1, discs + 1):
            for number in range(1, rng.randint(6, 16) + 1):
                if planned >= track_count:
                    break
                track_title = _phrase(rng, 1, 5)
                sub = f"CD{disc}/" if discs > 1 else ""
                rel_path = f"{folder}/{sub}{number:02d} {track_title}.flac"
                tags = {"title": track_title, "album": title, "tracknumber": str(number)}
                tags["artist"] = _phrase(rng, 1, 3) if compilation else album_artist
                if not (rng.random() < 0.03 and not compilation):
                    tags["albumartist"] = album_artist
                if discs > 1 and rng.random() < 0.5:
                    tags["discnumber"] = str(disc)
                if year:
                    tags["date"] = str(year)
                if genre:
                    tags["genre"] = genre
                if rng.random() < 0.01:
                    tags = {}  # no tags at all: the file name is all there is
                album.tracks.append(PlannedTrack(rel_path, tags, embedded))
                planned += 1
        albums.append(album)
    return albums


def iter_tracks(albums: list[PlannedAlbum]) -> Iterator[PlannedTrack]:
    for album in albums:
        yield from album.tracks


# --- writing ---------------------------------------------------------------------------------

_VORBIS_COMMENT, _PICTURE = 4, 6


def _block(kind: int, body: bytes, last: bool) -> bytes:
    return bytes([kind | (0x80 if last else 0)]) + len(body).to_bytes(3, "big") + body


def _vorbis_comment(tags: dict[str, str]) -> bytes:
    vendor = b"us-bench"
    body = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(tags))
    for key, value in tags.items():
        entry = f"{key.upper()}={value}".encode()
        body += struct.pack("<I", len(entry)) + entry
    return body


def _picture(data: bytes) -> bytes:
    mime, description = b"image/jpeg", b""
    return (
        struct.pack(">II", 3, len(mime)) + mime + struct.pack(">I", len(description)) + description
        + struct.pack(">IIIII", 500, 500, 24, 0, len(data)) + data
    )  # fmt: skip


@dataclass(frozen=True)
class FlacTemplate:
    """The STREAMINFO block and the audio frames of one real FLAC file."""

    streaminfo: bytes
    frames: bytes

    @classmethod
    def read(cls, path: Path) -> FlacTemplate:
        data = path.read_bytes()
        assert data[:4] == b"fLaC", "not a FLAC file"
        pos, streaminfo = 4, b""
        while True:
            header = data[pos]
            length = int.from_bytes(data[pos + 1 : pos + 4], "big")
            if header & 0x7F == 0:
                streaminfo = data[pos + 4 : pos + 4 + length]
            pos += 4 + length
            if header & 0x80:
                return cls(streaminfo, data[pos:])

    def render(self, track: PlannedTrack) -> bytes:
        blocks = [(0, self.streaminfo), (_VORBIS_COMMENT, _vorbis_comment(track.tags))]
        if track.picture is not None:
            blocks.append((_PICTURE, _picture(track.picture)))
        head = b"".join(_block(kind, body, i == len(blocks) - 1) for i, (kind, body) in enumerate(blocks))
        return b"fLaC" + head + self.frames


def write_library(root: Path, albums: list[PlannedAlbum], template: FlacTemplate) -> int:
    """Write every planned file under ``root``; returns how many tracks were written."""
    written = 0
    made: set[Path] = set()
    for album in albums:
        for track in album.tracks:
            path = root / track.rel_path
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            path.write_bytes(template.render(track))
            written += 1
        if album.cover_file is not None:
            name, data = album.cover_file
            (root / album.folder / name).write_bytes(data)
    return written
