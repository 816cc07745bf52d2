"""The rolling deploy: a commit becomes a release directory, then the running services move onto it
one at a time without dropping a request (docs/DEPLOY.md).

Steps, each idempotent: fetch the commit; export it into ``releases/<sha>/`` and build each
service's venv from ``uv.lock`` there; run the migrations (backward compatible with the running
release by rule); start a **canary** of every service from the new release, where nginx does not
send traffic, and wait for its ``/readyz``; switch the ``current`` symlink; swap each service's
workers (gunicorn SIGHUP: the new workers import ``current``) and wait for its ``/readyz``; reload
nginx only if its rendered config changed; keep the last N releases. A canary that is not ready
leaves ``current`` untouched; a service that is not ready after its swap rolls every swapped
service back to the previous release.

Where the steps act is a ``Host``: :class:`SystemdHost` here (the server, run by
``infra/deploy.sh`` from the pipeline), ``devtools.deploy_local.LocalHost`` on the stack of
``./dev up`` and the tests. Standard library only: on the server it runs with the system python3,
before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

SERVICES = ("control", "events", "media")
# control first (it owns the API the others call), events last: its swap ends every SSE stream with
# a goodbye, and the clients come back to a release whose API is already the new one.
SWAP_ORDER = ("control", "media", "events")
# What the gunicorn master itself runs: a reload keeps these from the old release, so a change to
# any of them makes the swap a restart (a few seconds of 502 that clients retry, docs/DEPLOY.md).
MASTER_PACKAGES = ("gunicorn", "uvicorn", "uvicorn-worker")
MASTER_FILES = ("libs/common/src/us_common/worker.py", "infra/gunicorn/gunicorn.conf.py")
BUILT_MARKER = ".built"


class DeployError(RuntimeError):
    """The deploy stopped; the message says what is serving now."""


@dataclass(frozen=True)
class Layout:
    """Where releases live: ``releases/<sha>/`` (source + ``venvs/<service>``), ``current`` (the
    serving release), ``next`` (the release a canary runs), ``releases/deployed`` (history)."""

    base: Path

    @property
    def releases(self) -> Path:
        return self.base / "releases"

    @property
    def current(self) -> Path:
        return self.base / "current"

    @property
    def next(self) -> Path:
        return self.base / "next"

    @property
    def history_file(self) -> Path:
        return self.releases / "deployed"

    def release(self, sha: str) -> Path:
        return self.releases / sha

    def python(self, service: str, link: Path | None = None) -> Path:
        return (link or self.current) / "venvs" / service / "bin" / "python"

    def history(self) -> list[str]:
        try:
            return [line for line in self.history_file.read_text().split() if line]
        except FileNotFoundError:
            return []

    def current_sha(self) -> str | None:
        try:
            return Path(os.readlink(self.current)).name
        except OSError:
            return None

    def point(self, link: Path, sha: str) -> None:
        """Switch ``link`` to ``releases/<sha>`` atomically (a new symlink renamed over the old)."""
        tmp = link.with_name(f".{link.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.release(sha).relative_to(link.parent))
        tmp.replace(link)


class Host(Protocol):
    """The machine the deploy acts on (systemd units, or the local stack's gunicorn masters)."""

    layout: Layout

    def migrate(self, release: Path) -> None: ...
    def start_canary(self, service: str) -> None: ...
    def canary_ready(self, service: str) -> bool: ...
    def stop_canary(self, service: str) -> str: ...  # returns the canary's log tail
    def master_runs_current(self, service: str) -> bool: ...
    def workers(self, service: str) -> set[int]: ...
    def reload(self, service: str) -> None: ...
    def restart(self, service: str) -> None: ...
    def ready(self, service: str) -> bool: ...
    def install_units(self, release: Path) -> set[str]: ...  # services whose unit changed
    def update_nginx(self, release: Path) -> bool: ...  # True when the config changed (reloaded)


# --- the source: a git repository ------------------------------------------------------------


@dataclass(frozen=True)
class GitSource:
    """Commits come from ``repo``; with ``fetch`` (the server's mirror) ``origin`` is fetched first."""

    repo: Path
    fetch: bool = False

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def resolve(self, commit: str) -> str:
        """The full sha of ``commit``, fetching ``origin`` first if the mirror does not have it."""
        try:
            return self.git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
        except subprocess.CalledProcessError:
            if not self.fetch:
                raise DeployError(f"no commit {commit!r} in {self.repo}") from None
        self.git("fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*")
        return self.git("rev-parse", "--verify", f"{commit}^{{commit}}")

    def export(self, sha: str, target: Path) -> None:
        with tempfile.TemporaryFile() as archive:
            subprocess.run(["git", "-C", str(self.repo), "archive", "--format=tar", sha], stdout=archive, check=True)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(target, filter="data")


# --- the steps -----------------------------------------------------------------------------------


def master_fingerprint(release: Path) -> str:
    """What a reload cannot change: the versions of the master's packages and the worker class."""
    lock = tomllib.loads((release / "uv.lock").read_text())
    versions = sorted(
        f"{package['name']}=={package.get('version', '')}"
        for package in lock.get("package", [])
        if package["name"] in MASTER_PACKAGES
    )
    digest = hashlib.sha256("\n".join(versions).encode())
    for name in MASTER_FILES:
        digest.update((release / name).read_bytes())
    return digest.hexdigest()


class Deployer:
    def __init__(
        self,
        host: Host,
        source: GitSource,
        *,
        keep: int = 5,
        ready_timeout_s: float = 60,
        log: Callable[[str], None] = print,
    ) -> None:
        self.host = host
        self.layout = host.layout
        self.source = source
        self.keep = keep
        self.ready_timeout_s = ready_timeout_s
        self.log = log

    # -- the whole deploy --

    def deploy(self, commit: str) -> str:
        sha = self.source.resolve(commit)
        previous = self.layout.current_sha()
        release = self.build(sha)
        self.log(f"migrating with {sha[:12]}")
        self.host.migrate(release)
        changed_units = self.host.install_units(release)
        if previous == sha and not changed_units and all(self.host.master_runs_current(s) for s in SERVICES):
            self.log(f"{sha[:12]} is already serving")
            self.update_nginx(release)
            return sha
        if previous is None and not any(self.host.workers(s) for s in SERVICES):
            return self.bootstrap(sha, release)
        try:
            self.canary(sha)
        except DeployError:
            if previous is not None:
                self.host.install_units(self.layout.release(previous))
            raise
        self.log(f"switching current to {sha[:12]}")
        self.layout.point(self.layout.current, sha)
        restart = set(changed_units)
        if previous is None or master_fingerprint(self.layout.release(previous)) != master_fingerprint(release):
            restart |= set(SERVICES)
        swapped: list[str] = []
        try:
            for service in SWAP_ORDER:
                swapped.append(service)
                self.swap(service, restart=service in restart or not self.host.master_runs_current(service))
            self.update_nginx(release)
        except DeployError as failure:
            if previous is None:  # a stack that ran a checkout, not a release: nothing to go back to
                raise DeployError(f"{failure}; no previous release to roll back to") from failure
            self.roll_back(previous, swapped, release)
            raise DeployError(f"{failure}; rolled back to {previous[:12]}") from failure
        self.record(sha)
        self.prune()
        self.log(f"{sha[:12]} is serving")
        return sha

    def bootstrap(self, sha: str, release: Path) -> str:
        """The first release on a host where nothing serves yet: no canary and no order — every
        service starts at once from ``current``. (A running stack that is not a release, such as
        ``./dev up``'s checkout, gets the canary and a restart of one service at a time.)"""
        self.log(f"first release: starting {sha[:12]}")
        self.layout.point(self.layout.current, sha)
        for service in SERVICES:
            self.host.restart(service)
        for service in SERVICES:
            if not self.wait(partial(self.host.ready, service)):
                raise DeployError(f"{service} of the first release {sha[:12]} is not ready")
        self.update_nginx(release)
        self.record(sha)
        self.log(f"{sha[:12]} is serving")
        return sha

    def build(self, sha: str) -> Path:
        """``releases/<sha>``: the commit's tree and one venv per service from its lock. A release
        that was built already is reused; a half-built one (no marker) is built again."""
        release = self.layout.release(sha)
        if (release / BUILT_MARKER).exists():
            return release
        shutil.rmtree(release, ignore_errors=True)
        release.mkdir(parents=True)
        self.log(f"building {sha[:12]} in {release}")
        self.source.export(sha, release)
        uv = shutil.which("uv") or "uv"
        for service in SERVICES:
            # Built in place (scripts' shebangs name this path); events never gets asyncpg.
            # Bytecode compiled here: a service's user cannot write it into the release, so
            # each start (and each worker swap of a deploy) would compile every module again.
            env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(release / "venvs" / service)}
            sync = ["sync", "--quiet", "--frozen", "--no-dev", "--no-editable", "--compile-bytecode"]
            subprocess.run(
                [uv, *sync, "--package", f"us-{service}"],
                cwd=release,
                env=env,
                check=True,
            )
        (release / BUILT_MARKER).write_text(sha + "\n")
        return release

    def canary(self, sha: str) -> None:
        """Every service of the new release, started beside the running one, must be ready before
        ``current`` moves; if one is not, the running release was never touched."""
        self.layout.point(self.layout.next, sha)
        self.log(f"canary of {sha[:12]}")
        pending = set(SERVICES)

        def all_ready() -> bool:
            pending.difference_update([s for s in sorted(pending) if self.host.canary_ready(s)])
            return not pending

        try:
            for service in SERVICES:
                self.host.start_canary(service)
            self.wait(all_ready)
        finally:
            tails = {service: self.host.stop_canary(service) for service in SERVICES}
            self.layout.next.unlink(missing_ok=True)
        not_ready = sorted(pending)
        if not_ready:
            for service in not_ready:
                self.log(f"{service} canary log:\n{tails[service]}")
            raise DeployError(
                f"release {sha[:12]}: {', '.join(not_ready)} not ready in the canary; "
                f"current is unchanged ({self.layout.current_sha() or 'nothing'})"
            )

    def swap(self, service: str, restart: bool) -> None:
        """Move one service onto ``current`` and wait until only new workers serve it, ready."""
        old = self.host.workers(service)
        if restart:
            self.log(f"restarting {service}")
            self.host.restart(service)
        else:
            self.log(f"reloading {service} (graceful worker swap)")
            self.host.reload(service)

        def swapped_and_ready() -> bool:
            now = self.host.workers(service)
            return bool(now) and not (now & old) and self.host.ready(service)

        if not self.wait(swapped_and_ready):
            raise DeployError(f"{service} not ready within {self.ready_timeout_s:.0f} s after its swap")

    def update_nginx(self, release: Path) -> None:
        if self.host.update_nginx(release):
            self.log("nginx config changed: reloaded")

    def roll_back(self, previous: str, swapped: Iterable[str], leaving: Path) -> None:
        """``current`` back to ``previous``; each swapped service reloaded onto it, or restarted
        where the master's own code differs or the release ``leaving`` took the master down."""
        self.log(f"rolling back to {previous[:12]}")
        self.layout.point(self.layout.current, previous)
        release = self.layout.release(previous)
        changed_units = self.host.install_units(release)
        master_changed = master_fingerprint(release) != master_fingerprint(leaving)
        for service in swapped:
            restart = master_changed or service in changed_units or not self.host.master_runs_current(service)
            self.swap(service, restart=restart)
        self.host.update_nginx(release)

    def roll_back_to_previous(self) -> str:
        """``rollback`` by hand: the release deployed before the current one, without migrating."""
        history = self.layout.history()
        current = self.layout.current_sha()
        earlier = [sha for sha in history if sha != current]
        if not earlier:
            raise DeployError("no earlier release to roll back to")
        previous = earlier[-1]
        leaving = self.layout.release(current) if current else self.layout.release(previous)
        self.roll_back(previous, SWAP_ORDER, leaving)
        self.record(previous)
        return previous

    # -- bookkeeping --

    def wait(self, check: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.2)
        return check()

    def record(self, sha: str) -> None:
        history = [s for s in self.layout.history() if s != sha] + [sha]
        self.layout.history_file.write_text("".join(f"{s}\n" for s in history))

    def prune(self) -> None:
        """Keep the last ``keep`` deployed releases (and whatever ``current`` is)."""
        keep = set(self.layout.history()[-self.keep :]) | {self.layout.current_sha()}
        for path in self.layout.releases.iterdir():
            if path.is_dir() and path.name not in keep:
                self.log(f"removing old release {path.name[:12]}")
                shutil.rmtree(path, ignore_errors=True)


# --- the server: systemd ------------------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def http_ready(connection: http.client.HTTPConnection) -> bool:
    """``GET /readyz`` answers 200."""
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class SystemdHost:
    """The server: units ``us-<service>`` (the serving release, ``current``) and ``us-canary@``,
    env files in ``/etc/us-playback``, the nginx site rendered from ``nginx.env`` there."""

    def __init__(self, base: Path = Path("/opt/us-playback"), etc: Path = Path("/etc/us-playback")) -> None:
        self.layout = Layout(base)
        self.etc = etc
        self.unit_dir = Path("/etc/systemd/system")
        self.site = Path("/etc/nginx/sites-available/us-playback.conf")

    def systemctl(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["systemctl", *args], check=check, capture_output=True, text=True).stdout.strip()

    def migrate(self, release: Path) -> None:
        # As the service user, with control's settings, in a transient unit (no env parsing here).
        subprocess.run(
            [
                "systemd-run", "--quiet", "--wait", "--pipe", "--collect",
                "--uid=us-playback", "--gid=us-playback",
                f"--property=EnvironmentFile={self.etc / 'common.env'}",
                f"--property=EnvironmentFile={self.etc / 'control.env'}",
                str(release / "venvs" / "control" / "bin" / "usctl"), "db", "upgrade",
            ],
            check=True,
        )  # fmt: skip

    def start_canary(self, service: str) -> None:
        self.systemctl("start", f"us-canary@{service}")

    def canary_ready(self, service: str) -> bool:
        return http_ready(_UnixHTTPConnection(f"/run/us-canary-{service}/gunicorn.sock", timeout=3))

    def stop_canary(self, service: str) -> str:
        self.systemctl("stop", f"us-canary@{service}", check=False)
        return subprocess.run(
            ["journalctl", "-u", f"us-canary@{service}", "-n", "40", "--no-pager", "-o", "cat"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    def main_pid(self, service: str) -> int:
        return int(self.systemctl("show", "-p", "MainPID", "--value", f"us-{service}") or 0)

    def master_runs_current(self, service: str) -> bool:
        pid = self.main_pid(service)
        if not pid:
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return str(self.layout.python(service)).encode() in cmdline

    def workers(self, service: str) -> set[int]:
        pid = self.main_pid(service)
        try:
            return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()} if pid else set()
        except OSError:
            return set()

    def reload(self, service: str) -> None:
        self.systemctl("reload", f"us-{service}")

    def restart(self, service: str) -> None:
        self.systemctl("enable", "--quiet", f"us-{service}")
        self.systemctl("restart", f"us-{service}")

    def ready(self, service: str) -> bool:
        environment = self.systemctl("show", "-p", "Environment", "--value", f"us-{service}").split()
        bind = next(v.split("=", 1)[1] for v in environment if v.startswith("US_GUNICORN_BIND="))
        host, _, port = bind.rpartition(":")
        return http_ready(http.client.HTTPConnection(host, int(port), timeout=3))

    def install_units(self, release: Path) -> set[str]:
        changed: set[str] = set()
        for unit in sorted((release / "infra" / "systemd").glob("us-*.service")):
            target = self.unit_dir / unit.name
            if not target.exists() or target.read_bytes() != unit.read_bytes():
                shutil.copyfile(unit, target)
                service = unit.name.removeprefix("us-").removesuffix(".service")
                changed.add(service)
        if changed:
            self.systemctl("daemon-reload")
        return changed & set(SERVICES)

    def update_nginx(self, release: Path) -> bool:
        from devtools.nginx_config import render_template

        values = read_env_file(self.etc / "nginx.env")
        values.setdefault("US_WEB_ROOT", str(self.layout.current / "web"))
        # control's default (infra/systemd/us-control.service's CacheDirectory), for older nginx.env files
        values.setdefault("US_COVER_CACHE_DIR", "/var/cache/us-playback/covers")
        try:
            text = render_template(release / "infra" / "nginx" / "us-playback.conf.template", values)
        except KeyError as missing:
            raise DeployError(f"{self.etc / 'nginx.env'} has no {missing} (see infra/env/nginx.env.example)") from None
        old = self.site.read_text() if self.site.exists() else None
        if old == text:
            return False
        self.site.write_text(text)
        enabled = Path("/etc/nginx/sites-enabled") / self.site.name
        if not enabled.exists():
            enabled.symlink_to(self.site)
        test = subprocess.run(["nginx", "-t", "-q"], capture_output=True, text=True, check=False)
        if test.returncode != 0:
            if old is None:
                self.site.unlink()
            else:
                self.site.write_text(old)
            raise DeployError(f"nginx -t refused the new site config:\n{test.stderr}")
        self.systemctl("reload", "nginx")
        return True


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# --- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, default=Path("/opt/us-playback"), help="releases live here")
    parser.add_argument("--keep", type=int, default=5, help="deployed releases to keep")
    parser.add_argument("--ready-timeout", type=float, default=60, help="seconds a service gets to be ready")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("deploy", help="deploy a commit (fetched from origin first)").add_argument("commit")
    sub.add_parser("rollback", help="go back to the release deployed before the current one")
    sub.add_parser("status", help="the serving release and the history")
    args = parser.parse_args(argv)
    host = SystemdHost(args.base)
    deployer = Deployer(
        host, GitSource(args.base / "repo.git", fetch=True), keep=args.keep, ready_timeout_s=args.ready_timeout
    )
    return run(deployer, args.command, getattr(args, "commit", None))


def run(deployer: Deployer, command: str, commit: str | None) -> int:
    """The subcommands, shared by the server's and the local command line."""
    try:
        if command == "deploy":
            assert commit is not None
            deployer.deploy(commit)
        elif command == "rollback":
            deployer.log(f"{deployer.roll_back_to_previous()[:12]} is serving")
        else:
            print(f"current: {deployer.layout.current_sha() or 'none'}")
            for sha in deployer.layout.history():
                print(f"  deployed {sha}")
    except (DeployError, subprocess.CalledProcessError) as failure:
        print(f"deploy failed: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
