"""Which catalog paths the verifier is willing to hand to nginx.

The catalog only stores relative, ``..``-free, UTF-8 paths under the music root; this checks it
again (the header nginx reads must not carry control characters either) and resolves symlinks,
so a file replaced by a link that leaves the root is refused here, not served by nginx.
A path that does not exist is allowed through: nginx's ``try_files`` answers its own 404.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class RefusedPath(ValueError):
    """A catalog path that must not be served; ``reason`` is safe to log (no path in it)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def check_rel_path(rel_path: str) -> None:
    """The same rule as the catalog's and nginx's ``map``: relative, no ``..``, no empty parts."""
    if (
        not rel_path
        or rel_path.startswith("/")
        or ".." in rel_path
        or _CONTROL_CHARS.search(rel_path) is not None
        or any(part in ("", ".") for part in rel_path.split("/"))
    ):
        raise RefusedPath("unsafe_path")


def resolve_in_root(music_root: Path, rel_path: str) -> str:
    """The real absolute path of ``rel_path`` (which may not exist); it must stay in the root."""
    check_rel_path(rel_path)
    root = os.fspath(music_root)
    real = os.path.realpath(os.path.join(root, rel_path))
    if not real.startswith(root.rstrip("/") + "/"):
        raise RefusedPath("outside_root")
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real  # nginx answers 404
    except OSError as exc:
        raise RefusedPath("unreadable") from exc
    if not stat.S_ISREG(mode):
        raise RefusedPath("not_a_file")
    return real
