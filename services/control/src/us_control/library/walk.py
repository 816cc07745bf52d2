"""The scanner's walk of one folder: every ``.flac`` with its size and mtime, folder pictures, and
why an entry was skipped. No database, no tag reading (blocking; run it off the event loop).

Hidden entries (``.name``, e.g. macOS ``._`` files) are ignored. Names that are not UTF-8 and
paths containing ``..`` (refused by nginx) are skipped with a reason. Directory symlinks are
followed only while they stay inside the music root, and each real directory is visited once
(no symlink loops).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from us_control.library.covers import is_folder_picture
from us_control.library.paths import inside, is_safe_rel_path, is_utf8, join_rel


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ``.flac`` file to index: its catalog path, where to open it, and its stat."""

    rel_path: str
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FolderPicture:
    """A ``cover.*`` / ``folder.*`` / ``front.*`` picture beside the tracks of a folder."""

    rel_dir: str
    rel_path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Skip:
    rel_path: str
    reason: str


def printable(rel_path: str) -> str:
    """A catalog-style path safe to print or log, even when the name is not valid UTF-8."""
    return rel_path.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_flac_name(name: str) -> bool:
    return name.lower().endswith(".flac")


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def walk_library(music_root: Path, folder: Path, rel_root: str) -> Iterator[Candidate | FolderPicture | Skip]:
    """Every ``.flac`` under ``folder`` in name order, depth first, or why one was skipped."""
    visited: set[tuple[int, int]] = set()
    root_stat = os.stat(folder)
    visited.add((root_stat.st_dev, root_stat.st_ino))
    pending: list[tuple[Path, str]] = [(folder, rel_root)]
    while pending:
        directory, dir_rel = pending.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skip(dir_rel or ".", f"cannot list the folder ({_why(exc)})")
            continue
        subdirs: list[tuple[Path, str]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()  # follows symlinks
                is_file = entry.is_file()
            except OSError:
                is_link, is_dir, is_file = False, False, False
            picture = is_file and not is_dir and is_folder_picture(name)
            if not (is_dir or picture or _is_flac_name(name)):
                continue
            rel = join_rel(dir_rel, name)
            if not is_utf8(name):
                if not picture:
                    yield Skip(rel, "the name is not valid UTF-8")
                continue
            if not is_safe_rel_path(rel):
                if not picture:
                    yield Skip(rel, "the path contains '..', which the media server refuses")
                continue
            path = Path(entry.path)
            if is_link:
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    if not picture:
                        yield Skip(rel, "broken symlink")
                    continue
                if not inside(music_root, target):
                    if not picture:
                        yield Skip(rel, "symlink leads outside the music root")
                    continue
            if is_dir:
                try:
                    st = os.stat(path)
                except OSError as exc:
                    yield Skip(rel, f"cannot read the folder ({_why(exc)})")
                    continue
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    if is_link:
                        yield Skip(rel, "symlink to a folder already scanned (loop)")
                    continue
                visited.add(key)
                subdirs.append((path, rel))
                continue
            if not is_file:
                yield Skip(rel, "not a regular file")
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                if not picture:
                    yield Skip(rel, f"cannot stat the file ({_why(exc)})")
                continue
            if picture:
                yield FolderPicture(dir_rel, rel, st.st_size, st.st_mtime_ns)
            else:
                yield Candidate(rel, entry.path, st.st_size, st.st_mtime_ns)
        # Reversed so the stack pops them in name order.
        pending.extend(reversed(subdirs))
