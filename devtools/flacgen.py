"""Real FLAC files for tests and the demo library: a tone, tags, optionally a cover picture."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import soundfile
from mutagen.flac import FLAC, Picture

SAMPLE_RATE = 44100


def tiny_png(rgb: tuple[int, int, int] = (200, 60, 90), size: int = 8) -> bytes:
    """A valid solid-colour PNG, for embedded cover art."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def write_flac(
    path: Path,
    *,
    duration_s: float,
    title: str,
    artist: str,
    album: str,
    album_artist: str | None = None,
    track_number: int | None = None,
    disc_number: int | None = None,
    year: int | None = None,
    frequency_hz: float = 440.0,
    cover: bytes | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    # A quiet tone with a little noise so FLAC cannot shrink it to nothing (Range tests want bytes).
    rng = np.random.default_rng(abs(hash((title, artist))) % 2**32)
    signal = 0.2 * np.sin(2 * np.pi * frequency_hz * t) + 0.005 * rng.standard_normal(t.size)
    stereo = np.stack([signal, signal], axis=1).astype(np.float32)
    soundfile.write(str(path), stereo, sample_rate, format="FLAC", subtype="PCM_16")
    tags = FLAC(str(path))
    tags["title"] = title
    tags["artist"] = artist
    tags["album"] = album
    tags["albumartist"] = album_artist or artist
    if track_number is not None:
        tags["tracknumber"] = str(track_number)
    if disc_number is not None:
        tags["discnumber"] = str(disc_number)
    if year is not None:
        tags["date"] = str(year)
    if cover is not None:
        picture = Picture()
        picture.type = 3  # front cover
        picture.mime = "image/png"
        picture.data = cover
        tags.add_picture(picture)
    tags.save()
    return path


DEMO_ALBUMS = [
    (
        "Aurora Tapes",
        "Lumen Quartet",
        2021,
        (180, 90, 200),
        [
            ("Morning Static", 95.0),
            ("Glass Harbour", 110.0),
            ("Northern Hum", 80.0),
        ],
    ),
    (
        "Paper Satellites",
        "The Slow Orbits",
        2019,
        (60, 140, 200),
        [
            ("Launch Window", 75.0),
            ("Low Earth", 100.0),
            ("Re-entry", 65.0),
            ("Splashdown", 120.0),
        ],
    ),
    (
        "Field Recordings",
        "Mara Ode",
        None,
        (90, 170, 90),
        [
            ("Creek", 40.0),
            ("Pines at Dusk", 55.0),
        ],
    ),
]


def write_demo_library(root: Path) -> list[Path]:
    """A small demo library: three albums, real FLAC, tags and cover art (``./dev up``)."""
    written: list[Path] = []
    for album, artist, year, colour, tracks in DEMO_ALBUMS:
        for number, (title, seconds) in enumerate(tracks, start=1):
            path = root / artist / album / f"{number:02d} {title}.flac"
            if path.exists():
                continue
            written.append(
                write_flac(
                    path,
                    duration_s=seconds,
                    title=title,
                    artist=artist,
                    album=album,
                    track_number=number,
                    disc_number=1,
                    year=year,
                    frequency_hz=220.0 * (1 + number / 4),
                    cover=tiny_png(colour),
                )
            )
    return written
