"""Throwaway Redis and Postgres servers for fault tests: their own port, their own temp dir.

Fault tests kill and restart these, never the machine's shared servers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.stack import _alive, free_port


class ThrowawayRedis:
    def __init__(self, workdir: Path, port: int | None = None, extra: list[str] | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    shutil.which("redis-server") or "/usr/bin/redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                    *self.extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_up()

    def wait_up(self, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if "PONG" in result.stdout or "NOAUTH" in result.stdout:
                return
            time.sleep(0.05)
        raise RuntimeError("throwaway redis did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, down_for_s: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for_s)
        self.start()

    def stop(self) -> None:
        self.kill()


class ThrowawayPostgres:
    """An ``initdb`` cluster in a temp dir with trust auth on a free port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        # The cluster runs as the postgres user, who cannot enter pytest's 0700 temp dirs:
        # keep the data in a directory of its own under /tmp (``workdir`` names it only).
        self.workdir = (
            Path(tempfile.mkdtemp(prefix=f"us-pg-{workdir.name}-")) if os.geteuid() == 0 else workdir
        )
        self.port = port or free_port()
        self.datadir = self.workdir / "data"
        self.bindir = self._find_bindir()

    @staticmethod
    def _find_bindir() -> Path:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
        for candidate in candidates:
            if (candidate / "initdb").exists():
                return candidate
        raise RuntimeError("postgresql server binaries not found")

    def _run(self, args: list[str], check: bool = True) -> None:
        # initdb refuses root; run the cluster as the postgres system user when we are root.
        user = group = None
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam("postgres")
            user, group = entry.pw_uid, entry.pw_gid
        subprocess.run(args, check=check, capture_output=True, user=user, group=group)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        )

    def start(self) -> None:
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-w",
                "-l",
                str(self.workdir / "pg.log"),
                "-o",
                f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (a no-op when it is not running)."""
        self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
            check=False,
        )

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None
