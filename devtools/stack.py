"""Start and stop the whole stack on one machine: three gunicorn masters and one nginx.

One implementation serves ``./dev up``, the test fixtures and the benchmarks, so what the tests
exercise is what a developer runs. Processes outlive the caller (own session, pid files).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devtools.nginx_config import render_template

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
SERVICES = ("control", "events", "media")
APPS = {
    "control": "us_control.app:create_app()",
    "events": "us_events.app:create_app()",
    "media": "us_media.app:create_app()",
}


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_ports() -> range:
    """The kernel's range for the local ports of outgoing connections."""
    try:
        low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


_handed_out: set[int] = set()


def free_port(span: int = 0) -> int:
    """A port nothing listens on, for a throwaway server (and, with ``span``, ``port + span``
    free too: a Redis Cluster node's bus port). Never one of the kernel's ephemeral ports: a port
    probed free there can become the local port of any outgoing connection before the server
    binds it, or while it is down for a restart (CI saw a cluster node fail "Address already in
    use"). Never the same port twice in one process."""
    ephemeral = _ephemeral_ports()
    candidates = [p for p in range(10_000, 65_536 - span) if p not in ephemeral and p + span not in ephemeral]
    if not candidates:  # every port is ephemeral here: fall back to the kernel's choice
        candidates = list(range(10_000, 65_536 - span))
    while True:
        port = random.choice(candidates)
        wanted = {port, port + span}
        if wanted & _handed_out:
            continue
        try:
            for candidate in wanted:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        _handed_out.update(wanted)
        return port


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
    # More hosts of a service behind the same nginx upstream (docs/SCALING.md): process name ->
    # (service, port), e.g. {"events-b": ("events", 18012)}; each runs like the service itself.
    replicas: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Popen handles of masters this process started (kept so they are reaped, not leaked).
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # A deployed release to run (the ``current`` link of devtools.deploy); None runs the checkout.
    release: Path | None = None

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.env['US_NGINX_PORT']}"

    def port(self, service: str) -> int:
        if service in self.replicas:
            return self.replicas[service][1]
        return int(self.env[f"US_{service.upper()}_PORT"])

    def processes(self) -> list[str]:
        """Every gunicorn master of the stack: the three services, then their replicas."""
        return [*SERVICES, *self.replicas]

    def upstream(self, service: str) -> str:
        """The nginx upstream's servers: the service's own port and its replicas' ports, in the
        form ``US_*_UPSTREAM`` takes for several hosts (``a:1; server b:2``)."""
        ports = [self.port(service), *(port for s, port in self.replicas.values() if s == service)]
        return "; server ".join(f"127.0.0.1:{port}" for port in ports)

    def service_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    # --- processes ----------------------------------------------------------------------

    def process_env(self, name: str) -> dict[str, str]:
        service = self.replicas[name][0] if name in self.replicas else name
        env = {k: v for k, v in os.environ.items() if not k.startswith("US_")}
        env.update(self.env)
        env.update(self.service_env.get(service, {}))
        env.update(
            US_GUNICORN_BIND=f"127.0.0.1:{self.port(name)}",
            US_GUNICORN_WORKERS=str(self.workers[service]),
            US_GUNICORN_NAME=f"us-{name}",
            # One metrics directory per process of this stack (us_common.metrics).
            PROMETHEUS_MULTIPROC_DIR=str(self.run_dir / f"metrics-{name}"),
            # events: a stalled client must not hold a stopping worker (us_common.worker).
            US_GUNICORN_DRAIN_S="3" if service == "events" else "",
            PYTHONUNBUFFERED="1",
        )
        if self.release is not None:
            env["US_GUNICORN_PRELOAD"] = "false"  # a reload (SIGHUP) then loads the new release
        return env

    def gunicorn_command(self, service: str, release: Path | None = None) -> list[str]:
        """The master's command line: the checkout's venv, or ``python -m gunicorn`` of a release
        through its link (as the systemd units do), so the master's sys.path goes through it."""
        release = release or self.release
        if release is None:
            return [str(Path(sys.executable).with_name("gunicorn")), "-c", str(INFRA / "gunicorn" / "gunicorn.conf.py")]
        python = release / "venvs" / service / "bin" / "python"
        return [str(python), "-m", "gunicorn", "-c", str(release / "infra" / "gunicorn" / "gunicorn.conf.py")]

    def start_service(self, service: str) -> int:
        base = self.replicas[service][0] if service in self.replicas else service
        existing = read_pid(self.pid_file(service))
        if existing:
            return existing
        with self.log_file(service).open("ab") as log:
            proc = subprocess.Popen(
                [*self.gunicorn_command(base), "--pid", str(self.pid_file(service)), APPS[base]],
                env=self.process_env(service),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.release or ROOT,
            )
        self.procs[service] = proc
        return proc.pid

    def render_nginx(self) -> tuple[Path, bool]:
        """Write nginx.conf and the site; True when either changed."""
        (self.run_dir / "nginx-tmp").mkdir(parents=True, exist_ok=True)
        values = {
            **self.env,
            "US_RUN_DIR": str(self.run_dir),
            "US_WEB_ROOT": str(self.release / "web" if self.release else self.web_root),
            "US_NGINX_LISTEN": f"127.0.0.1:{self.env['US_NGINX_PORT']}",
            "US_CONTROL_UPSTREAM": self.upstream("control"),
            "US_EVENTS_UPSTREAM": self.upstream("events"),
            "US_MEDIA_UPSTREAM": self.upstream("media"),
            "US_NGINX_ACCESS_LOG": str(self.log_file("nginx-access")),
            "US_NGINX_USER": "user root;" if os.geteuid() == 0 else "",
            "US_COVER_CACHE_DIR": self.env.get("US_COVER_CACHE_DIR", str(self.run_dir / "covers")),
        }
        changed = False
        for name, template in (
            ("us-playback.conf", "us-playback.conf.template"),
            ("nginx.conf", "nginx.conf.template"),
        ):
            target = self.run_dir / name
            text = render_template((self.release or ROOT) / "infra" / "nginx" / template, values)
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
        for service in self.processes():
            self.start_service(service)
        self.start_nginx()
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 60, services: tuple[str, ...] = SERVICES) -> None:
        deadline = time.monotonic() + timeout_s
        # Replicas are asked directly (through nginx the answer may be another host's).
        urls = {name: f"{self.public_url}/readyz/{name}" for name in services}
        urls.update({name: f"{self.service_url(name)}/readyz" for name in self.replicas})
        pending = list(urls)
        while pending:
            service = pending[0]
            try:
                response = httpx.get(urls[service], timeout=2)
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
        self.stop_nginx()
        for service in self.processes():
            self.stop_service(service)

    def stop_nginx(self) -> None:
        pid = read_pid(self.pid_file("nginx"))
        if pid:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.nginx_signal("quit")
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def port_settings(self) -> dict[str, str]:
        """Process name → the setting that holds its port."""
        return {name: f"US_{name.upper()}_PORT" for name in (*SERVICES, "nginx")}

    def busy_ports(self) -> dict[str, int]:
        """Settings whose port another program holds (ports of our own running processes are
        ours: a second ``up`` finds them taken and that is fine)."""
        running = self.running()
        busy: dict[str, int] = {}
        for name, setting in self.port_settings().items():
            port = int(self.env[setting])
            if running[name] is None and not port_is_free(port):
                busy[setting] = port
        return busy

    def running(self) -> dict[str, int | None]:
        return {name: read_pid(self.pid_file(name)) for name in (*SERVICES, "nginx")}

    def usctl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's admin CLI against this stack's settings."""
        usctl = (
            self.release / "venvs" / "control" / "bin" / "usctl"
            if self.release
            else Path(sys.executable).with_name("usctl")
        )
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
