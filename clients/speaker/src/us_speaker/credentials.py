"""The box's credential: written by ``us-speaker pair``, rotated by every refresh.

One JSON file, mode 0600, replaced atomically (a new file in the same directory, fsync, rename),
so a crash mid-write leaves the old credential or the new one, never half of either. The refresh
token is good once (docs/PAIRING.md): the new one is on disk before it is ever used.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


class NotPaired(Exception):
    """No usable credential: run ``us-speaker pair URL``."""


@dataclass(frozen=True)
class Credentials:
    server_url: str
    device_uuid: str
    refresh_token: str


def read_credentials(path: Path) -> Credentials:
    try:
        raw = json.loads(path.read_text())
        return Credentials(str(raw["server_url"]), str(raw["device_uuid"]), str(raw["refresh_token"]))
    except FileNotFoundError as exc:
        raise NotPaired(f"no credentials at {path}: run `us-speaker pair URL` first") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotPaired(f"unreadable credentials at {path}: pair again") from exc


def write_credentials(path: Path, credentials: Credentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(credentials), out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
