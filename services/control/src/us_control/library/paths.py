"""Paths under the music root: the only paths the catalog stores and nginx is ever told to serve.

Every stored path is relative to the music root, uses ``/``, never starts with ``/`` and never
contains ``..`` (nginx's second wall refuses such paths, so a track stored with one could never
play). Functions here are pure apart from resolving symlinks.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class OutsideMusicRoot(ValueError):
    """A path that is not (or does not resolve to something) inside the music root."""


def is_safe_rel_path(rel_path: str) -> bool:
    """True for a non-empty relative POSIX path that nginx's ``..``/absolute wall accepts."""
    return (
        bool(rel_path)
        and not rel_path.startswith("/")
        and ".." not in rel_path
        and "\x00" not in rel_path
        and all(part not in ("", ".") for part in rel_path.split("/"))
    )


def is_utf8(text: str) -> bool:
    """File names that are not valid UTF-8 reach Python as surrogate escapes; Postgres refuses them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def inside(root: Path, path: Path) -> bool:
    """``path`` (already resolved) is ``root`` or below it."""
    return path == root or root in path.parents


def library_rel_root(music_root: Path, folder: Path) -> str:
    """The library folder relative to the music root ("" for the root itself).

    ``folder`` is resolved first, so ``..`` and symlinks cannot smuggle a path out of the root.
    """
    resolved = folder.expanduser().resolve()
    if not inside(music_root, resolved):
        raise OutsideMusicRoot(f"{folder} is outside the music root {music_root}")
    rel = resolved.relative_to(music_root).as_posix()
    return "" if rel == "." else rel


def join_rel(rel_root: str, name: str) -> str:
    return f"{rel_root}/{name}" if rel_root else name


def overlaps(rel_root_a: str, rel_root_b: str) -> bool:
    """Two library folders overlap when one is the other or lies inside it."""
    if rel_root_a == "" or rel_root_b == "":
        return True
    a, b = PurePosixPath(rel_root_a), PurePosixPath(rel_root_b)
    return a == b or a in b.parents or b in a.parents


def track_file(music_root: Path, rel_path: str) -> Path | None:
    """The file of a catalog path, or None when it is gone or now resolves outside the root."""
    if not is_safe_rel_path(rel_path):
        return None
    try:
        resolved = (music_root / rel_path).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return resolved if inside(music_root, resolved) and resolved.is_file() else None
