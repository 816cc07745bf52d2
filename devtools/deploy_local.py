"""The deploy's host on the local stack (``./dev deploy``, tests/faults/test_deploy.py): the same
``Deployer`` as the server, acting on devtools.stack's gunicorn masters instead of systemd units.

``reload`` is what ``systemctl reload`` does (SIGHUP to the master), ``restart`` what ``systemctl
restart`` does (stop, start from ``current``); a canary is one more gunicorn of the next release on
a free port that nginx does not know.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import httpx
import psutil

from devtools.deploy import DeployError, Layout
from devtools.stack import APPS, Stack, free_port


class LocalHost:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.layout = Layout(stack.run_dir)
        self.canaries: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def migrate(self, release: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("US_")} | self.stack.env
        usctl = release / "venvs" / "control" / "bin" / "usctl"
        result = subprocess.run([str(usctl), "db", "upgrade"], env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DeployError(f"migrations of {release.name[:12]} failed:\n{result.stderr[-3000:]}")

    # -- the canary --

    def canary_log(self, service: str) -> Path:
        return self.stack.run_dir / f"canary-{service}.log"

    def start_canary(self, service: str) -> None:
        port = free_port()
        env = self.stack.process_env(service) | {
            "US_GUNICORN_BIND": f"127.0.0.1:{port}",
            "US_GUNICORN_WORKERS": "1",
            "US_GUNICORN_PRELOAD": "false",
            "US_GUNICORN_NAME": f"us-canary-{service}",
        }
        with self.canary_log(service).open("wb") as log:
            proc = subprocess.Popen(
                [*self.stack.gunicorn_command(service, self.layout.next), APPS[service]],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.layout.next,
            )
        self.canaries[service] = (proc, port)

    def canary_ready(self, service: str) -> bool:
        proc, port = self.canaries[service]
        return proc.poll() is None and _ready(f"http://127.0.0.1:{port}")

    def stop_canary(self, service: str) -> str:
        entry = self.canaries.pop(service, None)
        if entry is not None:
            proc = entry[0]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log = self.canary_log(service)
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    # -- the serving masters --

    def master_runs_current(self, service: str) -> bool:
        pid = self.stack.master_pid(service)
        if pid is None:
            return False
        with contextlib.suppress(psutil.Error):
            return str(self.layout.python(service)) in psutil.Process(pid).cmdline()
        return False

    def workers(self, service: str) -> set[int]:
        pid = self.stack.master_pid(service)
        with contextlib.suppress(psutil.Error):
            return {child.pid for child in psutil.Process(pid).children()} if pid else set()
        return set()

    def reload(self, service: str) -> None:
        pid = self.stack.master_pid(service)
        if pid is None:
            raise DeployError(f"{service} is not running: nothing to reload")
        os.kill(pid, signal.SIGHUP)

    def restart(self, service: str) -> None:
        self.stack.release = self.layout.current
        self.stack.stop_service(service)
        self.stack.start_service(service)

    def ready(self, service: str) -> bool:
        return _ready(self.stack.service_url(service))

    def install_units(self, release: Path) -> set[str]:
        return set()  # no systemd here: the stack's masters take their command line from Stack

    def update_nginx(self, release: Path) -> bool:
        self.stack.release = self.layout.current
        if not self.stack.running()["nginx"]:
            self.stack.start_nginx()
            return True
        conf, changed = self.stack.render_nginx()
        if changed:
            test = subprocess.run([self.stack.nginx_bin, "-t", "-q", "-c", str(conf)], capture_output=True, text=True)
            if test.returncode != 0:
                raise DeployError(f"nginx -t refused the new config:\n{test.stderr}")
            self.stack.nginx_signal("reload")
        return changed


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False
