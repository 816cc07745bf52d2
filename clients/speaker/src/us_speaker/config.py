"""The speaker's configuration: one TOML file, written by the person who installs the box.

Looked up at ``--config``, else ``$US_SPEAKER_CONFIG``, else ``/etc/us-speaker/config.toml``, else
``~/.config/us-speaker/config.toml``; a missing file means the defaults. Unknown keys are refused
(a typo should not silently do nothing). The server URL is not here: pairing writes it into the
credentials file, next to the credential it belongs to.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SYSTEM_CONFIG = Path("/etc/us-speaker/config.toml")


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class MpvConfig:
    path: str = "mpv"
    # mpv's --ao ("pipewire", "pulse", "alsa", … ; "" = mpv's own choice; tests use "null"/"pcm").
    audio_output: str = ""
    # mpv's --audio-device, e.g. "alsa/hw:CARD=sndrpihifiberry" ("" = the default device).
    audio_device: str = ""
    extra_args: tuple[str, ...] = ()

    def args(self) -> list[str]:
        args = list(self.extra_args)
        if self.audio_output:
            args.insert(0, f"--ao={self.audio_output}")
        if self.audio_device:
            args.insert(0, f"--audio-device={self.audio_device}")
        return args


def _default_state_dir() -> Path:
    # systemd's StateDirectory= sets $STATE_DIRECTORY; a user install keeps it under ~/.local/state.
    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    return Path.home() / ".local" / "state" / "us-speaker"


@dataclass(frozen=True)
class SpeakerConfig:
    # Proposed when pairing; whoever approves may rename it.
    device_name: str = field(default_factory=lambda: f"Speaker ({socket.gethostname()})")
    # credentials.json (0600) and mpv's IPC socket live here.
    state_dir: Path = field(default_factory=_default_state_dir)
    heartbeat_interval_s: float = 10.0
    # The server's presence window (US_PRESENCE_WINDOW_S). The box falls silent when its last
    # acknowledged heartbeat is older than 80 % of it: by then the server may count it offline
    # and hand the music to another device, so playing on could mean two speakers.
    presence_window_s: float = 30.0
    mpv: MpvConfig = field(default_factory=MpvConfig)

    @property
    def credentials_path(self) -> Path:
        return self.state_dir / "credentials.json"

    @property
    def mpv_socket(self) -> Path:
        return self.state_dir / "mpv.sock"


def _known(cls: type[Any], table: dict[str, Any], where: str) -> None:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(unknown)}")


def config_path(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("US_SPEAKER_CONFIG"):
        return Path(os.environ["US_SPEAKER_CONFIG"])
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    user = Path.home() / ".config" / "us-speaker" / "config.toml"
    return user if user.exists() else None


def load_config(explicit: str | None = None) -> SpeakerConfig:
    path = config_path(explicit)
    if path is None:
        return SpeakerConfig()
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    _known(SpeakerConfig, table, str(path))
    mpv_table = table.pop("mpv", {})
    if not isinstance(mpv_table, dict):
        raise ConfigError(f"{path}: [mpv] must be a table")
    _known(MpvConfig, mpv_table, f"{path} [mpv]")
    try:
        mpv = MpvConfig(**{**mpv_table, "extra_args": tuple(mpv_table.get("extra_args", ()))})
        values: dict[str, Any] = dict(table)
        if "state_dir" in values:
            values["state_dir"] = Path(values["state_dir"]).expanduser()
        config = SpeakerConfig(**values, mpv=mpv)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if config.heartbeat_interval_s <= 0 or config.presence_window_s <= config.heartbeat_interval_s:
        raise ConfigError(f"{path}: presence_window_s must exceed heartbeat_interval_s > 0")
    return config
