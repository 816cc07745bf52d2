"""Start and stop the whole stack on one machine: three gunicorn masters and one nginx.

One implementation serves ``./dev up``, the test fixtures and the benchmarks, so what the tests
exercise is what a developer runs. Processes outlive the caller (own session, pid files).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
SERVICES = ("control", "events", "media")
APPS = {
    "control": "us_control.app:create_app()",
    "events": "us_events.app:create_app()",
    "media": "us_media.app:create_app()",
}
_TEMPLATE_VAR = re.compile(r"\$\{(US_[A-Z0-9_]+)\}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_template(template: Path, values: dict[str, str]) -> str:
    """Substitute only ``${US_*}`` names, leaving nginx's own ``$variables`` alone."""

    def replace(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _TEMPLATE_VAR.sub(replace, template.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


@dataclass
class Stack:
    """A running (or runnable) stack. ``env`` holds every ``US_*`` setting the services read."""

    run_dir: Path
    env: dict[str, str]
    workers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 2))
    web_root: Path = ROOT / "web"
    nginx_bin: str = "/usr/sbin/nginx"
    # Settings only one service gets (its own Redis ACL user: devtools.redis_acl.service_env).
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Popen handles of masters this process started (kept so they are reaped, not leaked).
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.env['US_NGINX_PORT']}"

    def port(self, service: str) -> int:
        return int(self.env[f"US_{service.upper()}_PORT"])

    def service_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    # --- processes ----------------------------------------------------------------------

    def process_env(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("US_")}
        env.update(self.env)
        env.update(self.service_env.get(service, {}))
        env.update(
            US_GUNICORN_BIND=f"127.0.0.1:{self.port(service)}",
            US_GUNICORN_WORKERS=str(self.workers[service]),
            US_GUNICORN_NAME=f"us-{service}",
            # events: a stalled client must not hold a stopping worker (us_common.worker).
            US_GUNICORN_DRAIN_S="3" if service == "events" else "",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start_service(self, service: str) -> int:
        existing = read_pid(self.pid_file(service))
        if existing:
            return existing
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with self.log_file(service).open("ab") as log:
            proc = subprocess.Popen(
                [
                    str(gunicorn),
                    "-c",
                    str(INFRA / "gunicorn" / "gunicorn.conf.py"),
                    "--pid",
                    str(self.pid_file(service)),
                    APPS[service],
                ],
                env=self.process_env(service),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=ROOT,
            )
        self.procs[service] = proc
        return proc.pid

    def render_nginx(self) -> tuple[Path, bool]:
        """Write nginx.conf and the site; True when either changed."""
        (self.run_dir / "nginx-tmp").mkdir(parents=True, exist_ok=True)
        values = {
            **self.env,
            "US_RUN_DIR": str(self.run_dir),
            "US_WEB_ROOT": str(self.web_root),
            "US_NGINX_LISTEN": f"127.0.0.1:{self.env['US_NGINX_PORT']}",
            "US_CONTROL_UPSTREAM": f"127.0.0.1:{self.port('control')}",
            "US_EVENTS_UPSTREAM": f"127.0.0.1:{self.port('events')}",
            "US_MEDIA_UPSTREAM": f"127.0.0.1:{self.port('media')}",
            "US_NGINX_ACCESS_LOG": str(self.log_file("nginx-access")),
            "US_NGINX_USER": "user root;" if os.geteuid() == 0 else "",
        }
        changed = False
        for name, template in (
            ("us-playback.conf", "us-playback.conf.template"),
            ("nginx.conf", "nginx.conf.template"),
        ):
            target = self.run_dir / name
            text = render_template(INFRA / "nginx" / template, values)
            if not target.exists() or target.read_text() != text:
                target.write_text(text)
                changed = True
        return self.run_dir / "nginx.conf", changed

    def start_nginx(self) -> None:
        conf, changed = self.render_nginx()
        if read_pid(self.pid_file("nginx")):
            if changed:
                self.nginx_signal("reload")
            return
        subprocess.run([self.nginx_bin, "-t", "-q", "-c", str(conf)], check=True)
        subprocess.run([self.nginx_bin, "-c", str(conf)], check=True)

    def nginx_signal(self, action: str) -> None:
        subprocess.run([self.nginx_bin, "-c", str(self.run_dir / "nginx.conf"), "-s", action], check=True)

    def start(self, timeout_s: float = 60) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            self.start_service(service)
        self.start_nginx()
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 60, services: tuple[str, ...] = SERVICES) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(services)
        while pending:
            service = pending[0]
            try:
                response = httpx.get(f"{self.public_url}/readyz/{service}", timeout=2)
                if response.status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                tail = self.log_file(service).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{service} not ready after {timeout_s}s:\n{tail}")
            time.sleep(0.1)

    def master_pid(self, service: str) -> int | None:
        return read_pid(self.pid_file(service))

    def stop_service(self, service: str, timeout_s: float = 20) -> None:
        pid = self.master_pid(service)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        # Workers left behind by a killed master (they share its process group).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file(service).unlink(missing_ok=True)
        proc = self.procs.pop(service, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    def stop(self) -> None:
        pid = read_pid(self.pid_file("nginx"))
        if pid:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.nginx_signal("quit")
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for service in SERVICES:
            self.stop_service(service)

    def running(self) -> dict[str, int | None]:
        return {name: read_pid(self.pid_file(name)) for name in (*SERVICES, "nginx")}

    def usctl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's admin CLI against this stack's settings."""
        usctl = Path(sys.executable).with_name("usctl")
        env = {k: v for k, v in os.environ.items() if not k.startswith("US_")}
        env.update(self.env)
        return subprocess.run(
            [str(usctl), *args], input=stdin, env=env, text=True, capture_output=True, check=check
        )


def require_nginx() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(path).exists():
        raise RuntimeError("nginx is not installed (./dev up installs it from Debian)")
    return path
