"""What one FLAC file says about itself: tags, stream info, embedded cover (read with mutagen).

``facts_from_tags`` holds the fallback rules (a plain function, unit-tested without files);
``read_flac`` and ``read_cover`` do the file I/O. Errors never carry an absolute path: the
reason of :class:`UnreadableFile` names the file by its catalog path only. A file whose
metadata blocks are absurdly large (a tag block over ``MAX_TAG_BLOCK_BYTES``, all blocks over
``MAX_METADATA_BYTES``) is unreadable before mutagen would load it into memory.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutagen import MutagenError
from mutagen.flac import FLAC, FLACNoHeaderError

UNKNOWN_ARTIST = "Unknown Artist"
UNKNOWN_ALBUM = "Unknown Album"
MAX_TAG_CHARS = 1000
FRONT_COVER = 3  # FLAC/ID3 picture type "Cover (front)"
MAX_TAG_BLOCK_BYTES = 4 * 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024 * 1024
_VORBIS_COMMENT_BLOCK = 4

# "01 Dawn", "01. Dawn", "01 - Dawn", "1) Dawn" (but not "1979 Song").
_NUMBERED_STEM = re.compile(r"^(\d{1,3})(?:\s*[-._)]\s*|\s+)(?P<title>.+)$")
_DISC_FOLDER = re.compile(r"^(?:cd|disc|disk)\s*[-_ ]?\s*(\d{1,3})$", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_LEADING_INT = re.compile(r"^\s*(\d+)")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_MIME = re.compile(r"^image/[a-z0-9.+-]{1,60}$")


class UnreadableFile(Exception):
    """A file the scanner skips; ``reason`` is safe to log (no absolute path)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class FlacFacts:
    title: str
    artist: str
    album_title: str
    album_artist: str
    track_number: int | None
    disc_number: int | None
    year: int | None
    duration_ms: int
    sample_rate: int
    has_cover: bool
    genre: str | None = None
    # ALBUMARTISTSORT, when the file has one ("Beatles, The").
    album_artist_sort: str | None = None


@dataclass(frozen=True, slots=True)
class Cover:
    data: bytes
    mime: str


def clean_text(value: str | None) -> str | None:
    """NFC (so a search typed on any keyboard matches), no control characters, bounded; "" → None."""
    if value is None:
        return None
    text = _CONTROL_CHARS.sub(" ", unicodedata.normalize("NFC", value)).strip()
    return text[:MAX_TAG_CHARS] or None


def parse_number(value: str | None, upper: int = 9999) -> int | None:
    """``"3"``, ``"03/12"`` → 3; nonsense, 0 or absurdly large → None."""
    match = _LEADING_INT.match(value or "")
    if not match:
        return None
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > 9:
        return None
    number = int(digits)
    return number if 1 <= number <= upper else None


def parse_year(value: str | None) -> int | None:
    """The first four-digit group of a DATE tag: ``"2020"``, ``"2020-05-01"``, ``"May 2020"``."""
    match = _YEAR.search(value or "")
    if not match:
        return None
    year = int(match.group(1))
    return year if year >= 1000 else None


def _first(tags: Mapping[str, Sequence[str]], *keys: str) -> str | None:
    for key in keys:
        for value in tags.get(key, ()):
            text = clean_text(value)
            if text:
                return text
    return None


def _joined(tags: Mapping[str, Sequence[str]], *keys: str) -> str | None:
    """Several values of one tag (two artists) read as one name: "A; B"."""
    for key in keys:
        values = [text for text in (clean_text(v) for v in tags.get(key, ())) if text]
        if values:
            return clean_text("; ".join(dict.fromkeys(values)))
    return None


def is_disc_folder(name: str) -> bool:
    """``CD2``, ``Disc 2``, ``disk-2``: a folder holding one disc of an album."""
    return bool(_DISC_FOLDER.match(name))


def title_from_stem(stem: str) -> tuple[str, int | None]:
    """The title (and track number) a file name implies when the tags say nothing."""
    name = clean_text(stem) or stem
    match = _NUMBERED_STEM.match(name)
    if match and match.group("title").strip():
        return match.group("title").strip(), int(match.group(1)) or None
    return name, None


def facts_from_tags(
    tags: Mapping[str, Sequence[str]],
    *,
    file_stem: str,
    folder_name: str,
    duration_s: float,
    sample_rate: int,
    has_cover: bool,
) -> FlacFacts:
    """Catalog fields from lower-cased Vorbis comments, with the fallbacks a user expects."""
    stem_title, stem_number = title_from_stem(file_stem)
    album_artist_tag = _joined(tags, "albumartist", "album artist", "album_artist")
    artist = _joined(tags, "artist") or album_artist_tag or UNKNOWN_ARTIST
    disc = parse_number(_first(tags, "discnumber", "disc"), upper=999)
    if disc is None and (folder := _DISC_FOLDER.match(folder_name)):
        disc = int(folder.group(1)) or None
    track_number = parse_number(_first(tags, "tracknumber", "track"))
    return FlacFacts(
        title=_first(tags, "title") or stem_title,
        artist=artist,
        album_title=_first(tags, "album") or UNKNOWN_ALBUM,
        album_artist=album_artist_tag or artist,
        track_number=track_number if track_number is not None else stem_number,
        disc_number=disc,
        year=parse_year(_first(tags, "date", "originaldate", "year")),
        duration_ms=max(0, round(duration_s * 1000)),
        sample_rate=int(sample_rate),
        has_cover=has_cover,
        genre=_first(tags, "genre"),
        album_artist_sort=_first(tags, "albumartistsort") if album_artist_tag else None,
    )


def _check_metadata_size(path: Path) -> None:
    """Walk the metadata block headers (a few bytes each) before mutagen reads the blocks."""
    with open(path, "rb") as file:
        if file.read(4) != b"fLaC":
            return  # mutagen gives the precise reason
        total = 0
        while True:
            header = file.read(4)
            if len(header) < 4:
                return
            kind, length = header[0] & 0x7F, int.from_bytes(header[1:4], "big")
            total += length
            if kind == _VORBIS_COMMENT_BLOCK and length > MAX_TAG_BLOCK_BYTES:
                raise UnreadableFile(f"tags larger than {MAX_TAG_BLOCK_BYTES // 2**20} MiB")
            if total > MAX_METADATA_BYTES:
                raise UnreadableFile(f"metadata larger than {MAX_METADATA_BYTES // 2**20} MiB")
            if header[0] & 0x80:
                return
            file.seek(length, os.SEEK_CUR)


def _open(path: Path, rel_path: str) -> Any:
    try:
        _check_metadata_size(path)
        return FLAC(str(path))
    except UnreadableFile:
        raise
    except FLACNoHeaderError as exc:
        raise UnreadableFile("not a FLAC file (no fLaC header)") from exc
    except MutagenError as exc:
        # mutagen's messages may name the absolute path: keep only the catalog path.
        detail = str(exc).replace(str(path), rel_path)
        raise UnreadableFile(f"corrupt FLAC: {detail}"[:300]) from exc
    except PermissionError as exc:
        raise UnreadableFile("permission denied") from exc
    except OSError as exc:
        raise UnreadableFile(f"cannot read the file ({exc.strerror or type(exc).__name__})") from exc
    except Exception as exc:  # mutagen on garbage can raise anything; one bad file must not stop a scan
        raise UnreadableFile(f"corrupt FLAC ({type(exc).__name__})") from exc


def _usable_pictures(flac: Any) -> list[Any]:
    # A picture whose MIME type is "-->" is a URL reference, not image bytes.
    return [p for p in flac.pictures if p.data and p.mime != "-->"]


def read_flac(path: Path, rel_path: str) -> FlacFacts:
    """Open and parse one FLAC file (blocking). Raises :class:`UnreadableFile`."""
    flac = _open(path, rel_path)
    info = flac.info
    if info is None or not getattr(info, "sample_rate", 0):
        raise UnreadableFile("FLAC without valid stream info")
    raw = flac.tags.as_dict() if flac.tags is not None else {}
    tags = {str(key).lower(): [str(v) for v in values] for key, values in raw.items()}
    return facts_from_tags(
        tags,
        file_stem=path.stem if path.suffix.lower() == ".flac" else path.name,
        folder_name=path.parent.name,
        duration_s=float(info.length or 0.0),
        sample_rate=int(info.sample_rate),
        has_cover=bool(_usable_pictures(flac)),
    )


def sniff_image_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_cover(path: Path, rel_path: str) -> Cover | None:
    """The embedded front cover (else the first picture), or None (blocking)."""
    pictures = _usable_pictures(_open(path, rel_path))
    if not pictures:
        return None
    picture = next((p for p in pictures if p.type == FRONT_COVER), pictures[0])
    data = bytes(picture.data)
    declared = str(picture.mime or "").strip().lower()
    mime = declared if _MIME.match(declared) else sniff_image_mime(data)
    if declared == "image/jpg":
        mime = "image/jpeg"
    return Cover(data=data, mime=mime or "application/octet-stream")
