"""The cover cache: album pictures resized once at scan time, stored by content, served by nginx.

An album's cover is the front picture embedded in its first track that has one, else a
``cover.*`` / ``folder.*`` / ``front.*`` picture in its folder (or in the parent of a
``CD1``-style disc folder). Its key is a hash of the source picture's bytes; the cache holds
two JPEGs per key, ``<cache>/<k[:2]>/<key>-thumb.jpg`` and ``-large.jpg``, written atomically
and never rewritten (same bytes, same key), so nginx can send them with a long-lived
``Cache-Control`` and its own ETag. Pictures are decoded with Pillow under a pixel cap; one
that cannot be decoded means no cover, never a failed scan.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps

CoverSize = Literal["thumb", "large"]
SIZES: dict[CoverSize, int] = {"thumb": 300, "large": 1200}
JPEG_QUALITY = 85
# Pictures bigger than this (bytes, pixels) are not decoded: a cover, not a poster scan.
MAX_PICTURE_BYTES = 32 * 1024 * 1024
MAX_PICTURE_PIXELS = 40_000_000
KEY_LENGTH = 32  # hex characters of sha256
_KEY = re.compile(r"^[0-9a-f]{32}$")

# Preference among folder pictures: the stem's rank, then the extension's.
_STEMS = ("cover", "folder", "front")
_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")


class BadPicture(Exception):
    """A picture Pillow cannot (or should not) decode; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def is_folder_picture(name: str) -> bool:
    stem, ext = os.path.splitext(name.lower())
    return stem in _STEMS and ext in _EXTENSIONS


def folder_picture_rank(rel_path: str) -> tuple[int, int, str]:
    """Sort key among a folder's pictures: ``cover.jpg`` before ``folder.png`` before ``front.*``."""
    stem, ext = os.path.splitext(rel_path.rsplit("/", 1)[-1].lower())
    return _STEMS.index(stem), _EXTENSIONS.index(ext), rel_path


def cover_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:KEY_LENGTH]


def is_cover_key(text: str) -> bool:
    return bool(_KEY.match(text))


def cover_file(cache_dir: Path, key: str, size: CoverSize) -> Path:
    return cache_dir / key[:2] / f"{key}-{size}.jpg"


def cover_url(key: str | None) -> str | None:
    """The relative URL of an album's thumbnail (``?size=large``: the big one), or None."""
    return f"/covers/{key}" if key else None


def _resized(image: Image.Image, size: int) -> bytes:
    copy = image.copy()
    copy.thumbnail((size, size), Image.Resampling.LANCZOS)  # never enlarges
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def render_sizes(data: bytes) -> dict[CoverSize, bytes]:
    """The thumbnail and the large JPEG of a picture (blocking, CPU-bound). Raises BadPicture."""
    if len(data) > MAX_PICTURE_BYTES:
        raise BadPicture(f"picture larger than {MAX_PICTURE_BYTES // 2**20} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.width * opened.height > MAX_PICTURE_PIXELS:
                raise BadPicture(f"picture of {opened.width}x{opened.height} pixels")
            # JPEG decodes at a reduced scale directly (much cheaper than decoding then shrinking).
            opened.draft("RGB", (SIZES["large"], SIZES["large"]))
            image = ImageOps.exif_transpose(opened).convert("RGB")
            return {size: _resized(image, px) for size, px in SIZES.items()}
    except BadPicture:
        raise
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise BadPicture(f"undecodable picture ({type(exc).__name__})") from exc


def store_cover(cache_dir: Path, data: bytes) -> str:
    """Put a picture in the cache (unless its key is there already); returns its key."""
    key = cover_key(data)
    if all(cover_file(cache_dir, key, size).exists() for size in SIZES):
        return key
    rendered = render_sizes(data)
    folder = cache_dir / key[:2]
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # nginx's worker lists it, whatever the scanner's umask
    for size, jpeg in rendered.items():
        target = cover_file(cache_dir, key, size)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(jpeg)
        os.chmod(temporary, 0o644)  # nginx's worker reads it
        temporary.replace(target)
    return key
