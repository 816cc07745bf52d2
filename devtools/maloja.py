"""A throwaway Maloja (a real self-hosted scrobble server) for the scrobbling tests.

``malojaserver`` from PyPI runs in its own virtual environment, built once from the pinned
``maloja-requirements.txt`` under ``.cache/`` (gitignored) and reused by later runs: about 10 s
with uv on a fresh machine (PyPI downloads), nothing afterwards. Each :class:`ThrowawayMaloja`
has its own data directory, a free port on 127.0.0.1 and its API key in ``apikeys.yml``; tests
stop, pause (SIGSTOP) and kill it, never anything they did not start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from devtools.stack import ROOT, _alive, free_port

MALOJA_VERSION = "3.2.3"  # the last release that runs on Python 3.11 (3.2.4+ want 3.12)
REQUIREMENTS = Path(__file__).with_name("maloja-requirements.txt")
CACHE = ROOT / ".cache"


def venv_dir() -> Path:
    return CACHE / f"maloja-{MALOJA_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"


def ensure_venv() -> Path:
    """The Maloja virtual environment (built on first use; a lock keeps parallel runs apart)."""
    venv = venv_dir()
    stamp = venv / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    CACHE.mkdir(exist_ok=True)
    with (CACHE / "maloja.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted and (venv / "bin" / "maloja").exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        python = str(venv / "bin" / "python")
        if uv := shutil.which("uv"):
            subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
            install = [uv, "pip", "install", "-q", "--python", python, "--compile-bytecode"]
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            install = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*install, "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
        return venv


class ThrowawayMaloja:
    def __init__(self, workdir: Path, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.settings = settings or {}
        self.port = port or free_port()
        self.api_key = secrets.token_hex(24)
        self.password = secrets.token_hex(12)
        self.proc: subprocess.Popen[bytes] | None = None
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        # doreah's key store: one "client name: key" line per API key.
        (self.data / "apikeys.yml").write_text(f"us-tests: {self.api_key}\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def listenbrainz_url(self) -> str:
        """The base_url a scrobble target uses (Maloja's ListenBrainz-compatible API root)."""
        return f"{self.url}/apis/listenbrainz"

    @property
    def log_file(self) -> Path:
        return self.workdir / "maloja.log"

    def start(self, timeout_s: float = 90) -> None:
        venv = ensure_venv()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALOJA_")}
        env.update(
            MALOJA_DATA_DIRECTORY=str(self.data),
            MALOJA_HOST="127.0.0.1",
            MALOJA_PORT=str(self.port),
            MALOJA_SKIP_SETUP="yes",
            MALOJA_FORCE_PASSWORD=self.password,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.settings)
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(venv / "bin" / "maloja"), "run"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.workdir,
            )
        self.wait_up(timeout_s)

    def wait_up(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"maloja exited:\n{self.log_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                info = httpx.get(f"{self.url}/apis/mlj_1/serverinfo", timeout=2).json()
                if info.get("db_status", {}).get("healthy"):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"maloja not up after {timeout_s}s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)  # a paused Maloja cannot act on SIGTERM
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the port stays open (the kernel accepts connections) but nothing answers."""
        assert self.proc is not None and _alive(self.proc.pid)
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def replace_api_key(self) -> str:
        """Drop the API key and make a new one, as a user does in Maloja's settings (admin API)."""
        login = httpx.post(f"{self.url}/auth/authenticate", data={"user": "admin", "password": self.password})
        login.raise_for_status()
        new_key = secrets.token_hex(24)
        response = httpx.post(
            f"{self.url}/apis/mlj_1/apikeys",
            json={"us-tests": None, "us-tests-2": new_key},
            cookies={login.json()["cookie_name"]: login.json()["token"]},
        )
        response.raise_for_status()
        self.api_key = new_key
        return new_key

    def scrobbles(self) -> list[dict[str, Any]]:
        """Every scrobble Maloja holds, through its own API, oldest first."""
        response = httpx.get(f"{self.url}/apis/mlj_1/scrobbles", params={"since": "1970"}, timeout=30)
        response.raise_for_status()
        return sorted(response.json()["list"], key=lambda s: int(s["time"]))


@contextlib.contextmanager
def running_maloja() -> Iterator[ThrowawayMaloja]:
    """A started Maloja in a fresh data directory, stopped and removed afterwards. The directory
    is in /dev/shm when there is one: Maloja writes SQLite with an fsync per scrobble (~30 % of
    its time here)."""
    shm = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(prefix="us-maloja-", dir=shm if shm.is_dir() else None))
    server = ThrowawayMaloja(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
