"""Commits to deploy, made without touching the checkout (its index, HEAD or files): the working
tree as it is (so the fault stage runs what is on disk, committed or not), and commits derived
from one by replacing a few files. They are dangling objects in the repository until git's gc."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

_IDENTITY = {
    "GIT_AUTHOR_NAME": "us-playback tests",
    "GIT_AUTHOR_EMAIL": "tests@localhost",
    "GIT_COMMITTER_NAME": "us-playback tests",
    "GIT_COMMITTER_EMAIL": "tests@localhost",
}


def _git(repo: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        env={**os.environ, **_IDENTITY, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def commit_worktree(repo: Path, message: str = "the working tree, for a deploy test") -> str:
    """A commit of every file in the working tree that git would add (tracked or not, minus
    .gitignore), on top of HEAD, through a private index."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", "HEAD", env=env)
        _git(repo, "add", "--all", ".", env=env)
        tree = _git(repo, "write-tree", env=env)
    return _git(repo, "commit-tree", tree, "-p", "HEAD", "-m", message)


def derive_commit(repo: Path, parent: str, files: Mapping[str, str], message: str) -> str:
    """``parent`` with ``files`` (path → new content) replaced or added."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", parent, env=env)
        for path, text in files.items():
            blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text)
            _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = _git(repo, "write-tree", env=env)
    return _git(repo, "commit-tree", tree, "-p", parent, "-m", message)


def show(repo: Path, commit: str, path: str) -> str:
    return _git(repo, "show", f"{commit}:{path}")
