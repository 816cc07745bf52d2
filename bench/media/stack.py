"""A private stack for the media bench: own database and music root, one big FLAC, one speaker.

The nginx config is the production template plus one bench-only location that serves the same
file with the same directives minus ``auth_request`` (the ceiling). Media runs with
``US_SELF_STREAM=true`` so the third contender is the service itself.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import soundfile
from mutagen.flac import FLAC

from devtools.ephemeral import start_stack, stop_stack
from devtools.stack import Stack

LIBRARY = "Bench"
REL_PATH = f"{LIBRARY}/Noise/01 White Noise.flac"
NOAUTH_PATH = "/bench-noauth/track.flac"
PASSWORD = "bench password that is long enough"


class BenchStack(Stack):
    def render_nginx(self) -> tuple[Path, bool]:
        conf, _ = super().render_nginx()
        site = self.run_dir / "us-playback.conf"
        text = site.read_text()
        root = self.env["US_MUSIC_ROOT"]
        # Same serving directives as /media/tracks/, no auth_request: what nginx alone can do.
        ceiling = f"""
    location = {NOAUTH_PATH} {{
        root {root};
        try_files "/{REL_PATH}" =404;
        sendfile on;
        tcp_nopush on;
        types {{ }}
        default_type audio/flac;
        etag off;
        add_header Cache-Control $us_media_cache_control always;
        add_header Accept-Ranges $us_media_accept_ranges always;
    }}
}}
"""
        cut = text.rstrip().rfind("}")
        site.write_text(text[:cut] + ceiling)
        return conf, True


def write_noise_flac(path: Path, seconds: float) -> int:
    """White noise does not compress: a FLAC of about 10 MB per minute."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    frames = int(seconds * 44100)
    noise = (rng.standard_normal((frames, 2)) * 0.25).clip(-1, 1).astype(np.float32)
    soundfile.write(str(path), noise, 44100, format="FLAC", subtype="PCM_16")
    tags = FLAC(str(path))
    tags["title"], tags["artist"], tags["album"], tags["tracknumber"] = "White Noise", "Bench", "Noise", "1"
    tags.save()
    return path.stat().st_size


@dataclass
class BenchSetup:
    stack: Stack
    file_path: Path
    file_size: int
    session_uuid: str
    device_uuid: str
    track_uuid: str
    access_token: str

    def mint_url(self) -> str:
        response = httpx.post(
            f"{self.stack.public_url}/sessions/{self.session_uuid}/media-token",
            json={"device_uuid": self.device_uuid, "track_uuid": self.track_uuid},
            headers={"Authorization": f"Bearer {self.access_token}"},
        )
        response.raise_for_status()
        return str(response.json()["url"])


def start(run_dir: Path, seconds: float, workers: int) -> BenchSetup:
    music_root = run_dir / "music"
    file_path = music_root / REL_PATH
    size = write_noise_flac(file_path, seconds)
    music_root.chmod(0o755)
    stack = start_stack(
        run_dir / "stack",
        music_root,
        workers={"control": 2, "events": 1, "media": workers},
        stack_class=BenchStack,
        US_LOG_LEVEL="warning",
        US_MEDIA_TOKEN_TTL_S="120",
        US_SELF_STREAM="true",
        US_RATE_LIMIT_MEDIA_TOKEN="10000/minute",
        US_RATE_LIMIT_COMMANDS="10000/minute",
    )
    try:
        username = f"bench-{uuid.uuid4().hex[:8]}"
        stack.usctl("user", "add", username, "--password-stdin", stdin=PASSWORD + "\n")
        stack.usctl("library", "scan", str(music_root / LIBRARY), "--name", LIBRARY)
        stack.usctl("library", "grant", username, LIBRARY)
        base = stack.public_url
        token = httpx.post(f"{base}/auth/token", data={"username": username, "password": PASSWORD}).json()[
            "access_token"
        ]
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=15)
        with api:
            device = api.post("/devices/register", json={"device_name": "bench speaker"}).json()[
                "device_uuid"
            ]
            track = api.get("/tracks").json()["items"][0]["track_uuid"]
            session = api.get("/users/me").json()["user_uuid"]
            snap = api.post(f"/sessions/{session}/speaker", json={"device_uuid": device}).json()
    except BaseException:
        stop(stack)
        raise
    return BenchSetup(stack, file_path, size, str(snap["session_uuid"]), device, track, token)


def stop(stack: Stack) -> None:
    stop_stack(stack)


def describe(setup: BenchSetup) -> str:
    return json.dumps({"file_bytes": setup.file_size, "media_workers": setup.stack.workers["media"]})
