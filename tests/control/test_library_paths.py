"""Catalog path rules (``us_control.library.paths``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from us_control.library.paths import (
    OutsideMusicRoot,
    is_safe_rel_path,
    library_rel_root,
    overlaps,
    track_file,
)


@pytest.mark.parametrize(
    ("rel_path", "safe"),
    [
        ("Artist/Album/01 Song.flac", True),
        ("Ünïcode/Señal.flac", True),
        ("/etc/passwd", False),
        ("../outside.flac", False),
        ("a/../b.flac", False),
        ("a/Song..flac", False),  # nginx's wall refuses any "..", so the catalog never stores one
        ("a//b.flac", False),
        ("./a.flac", False),
        ("", False),
    ],
)
def test_safe_rel_paths_are_relative_and_never_climb(rel_path: str, safe: bool) -> None:
    assert is_safe_rel_path(rel_path) is safe


def test_library_rel_root_is_relative_to_the_music_root(tmp_path: Path) -> None:
    root = tmp_path.resolve() / "music"
    (root / "Library" / "Sub").mkdir(parents=True)
    assert library_rel_root(root, root) == ""
    assert library_rel_root(root, root / "Library" / "Sub") == "Library/Sub"
    assert library_rel_root(root, root / "Library" / ".." / "Library") == "Library"


def test_library_rel_root_refuses_paths_outside_the_root_even_through_dotdot_or_symlink(
    tmp_path: Path,
) -> None:
    root = tmp_path.resolve() / "music"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere")
    for folder in (tmp_path / "elsewhere", root / ".." / "elsewhere", root / "escape", Path("/")):
        with pytest.raises(OutsideMusicRoot):
            library_rel_root(root, folder)


def test_overlapping_library_folders() -> None:
    assert overlaps("", "Anything")
    assert overlaps("A", "A/B")
    assert overlaps("A/B", "A")
    assert not overlaps("A", "AB")
    assert not overlaps("A/B", "A/C")


def test_track_file_refuses_symlinks_that_leave_the_root(tmp_path: Path) -> None:
    root = tmp_path.resolve() / "music"
    root.mkdir()
    (root / "in.flac").write_bytes(b"x")
    (tmp_path / "secret.flac").write_bytes(b"x")
    (root / "out.flac").symlink_to(tmp_path / "secret.flac")
    assert track_file(root, "in.flac") == root / "in.flac"
    assert track_file(root, "out.flac") is None
    assert track_file(root, "missing.flac") is None
    assert track_file(root, "../secret.flac") is None

