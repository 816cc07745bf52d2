"""Deployment files that cannot run here, checked by the tools made for them.

- **systemd units**: ``systemd-analyze verify`` against a throwaway root that holds the system's
  own unit files and, as stubs, exactly the executables the deploy creates
  (``devtools.deploy.Layout``: ``/opt/us-playback/current/venvs/<service>/bin/python``, the
  canary's ``next/…``) plus ``/bin/kill``. It proves every key is known in its section and its
  value parses (verify only *warns* about those, so any output fails the test), that each command
  names an executable the deploy puts there, and that the units they order against resolve. It
  does not prove the ``us-playback`` user, the env files or the music root exist (bootstrap's
  job, README). ``systemd-analyze security --offline`` then keeps the hardening at "OK" or better.
- **compose.yaml**: the compose-spec JSON schema (check-jsonschema's pinned copy: no Docker
  engine or compose plugin here), plus what the schema cannot see: every ``depends_on`` names a
  service, every named volume is declared, every bind-mounted path and the build context exist.
- **GitHub workflows**: the workflow JSON schema (check-jsonschema's pinned copy).
- The nginx templates are checked by ``nginx -t`` whenever a stack starts (devtools.stack).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devtools.deploy import SERVICES, Layout

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "infra" / "systemd"
SERVER = Layout(Path("/opt/us-playback"))
SYSTEM_UNITS = Path("/usr/lib/systemd/system")

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")


def unit_names() -> list[str]:
    """Every unit in infra/systemd; a template is verified as one instance per service."""
    names: list[str] = []
    for unit in sorted(UNITS.glob("*.service")):
        if unit.name.endswith("@.service"):
            names += [unit.name.replace("@.service", f"@{s}.service") for s in SERVICES]
        else:
            names.append(unit.name)
    return names


def _stub(root: Path, executable: str) -> None:
    path = root / executable.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def _exec_paths(unit: Path) -> set[str]:
    """The executables of a unit's Exec*= lines (after systemd's prefix characters)."""
    found: set[str] = set()
    for line in unit.read_text().splitlines():
        match = re.match(r"Exec\w+=[-@:+!]*(\S+)", line)
        if match:
            found.add(match.group(1))
    return found


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("systemd-root")
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True)
    target = root / "etc" / "systemd" / "system"
    target.mkdir(parents=True)
    _stub(root, "/bin/kill")
    for service in SERVICES:
        _stub(root, str(SERVER.python(service)))
        _stub(root, str(SERVER.python(service, SERVER.next)))
    deployed = {f"us-{s}.service" for s in SERVICES} | {"us-canary@.service"}
    for unit in UNITS.glob("*.service"):
        shutil.copy(unit, target / unit.name)
        if unit.name not in deployed:
            # Not laid out by devtools.deploy (e.g. the speaker box's unit): its own paths.
            for executable in _exec_paths(unit):
                _stub(root, executable)
    return root


def test_the_deploy_installs_every_unit_it_names() -> None:
    assert {f"us-{s}.service" for s in SERVICES} | {"us-canary@.service"} <= {u.name for u in UNITS.glob("*.service")}


@pytest.mark.parametrize("unit", unit_names())
def test_systemd_unit_verifies(unit_root: Path, unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={unit_root}", "--man=no", "--generators=no", unit],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).replace(str(unit_root), "")
    assert result.returncode == 0 and not output.strip(), output


@pytest.mark.parametrize("unit", [u for u in unit_names() if not u.startswith("us-canary@")])
def test_systemd_unit_hardening_stays_ok(unit_root: Path, unit: str) -> None:
    # Exposure 0 (locked down) … 10 (unprotected), given in tenths: 40 is 4.0 (still "OK"); ours are 3.2.
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={unit_root}", "--threshold=40", unit],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    verdict = result.stdout.strip().splitlines()[-1:] if result.stdout else [result.stderr]
    assert result.returncode == 0, verdict


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(tool), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_matches_the_compose_spec() -> None:
    result = _check_jsonschema("vendor.compose-spec", ROOT / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_references_resolve() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if source.startswith("${"):
                continue  # MUSIC_DIR: the operator's
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} uses undeclared volume {source}"
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists()


def test_github_workflows_match_their_schema() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "the pipeline lives in .github/workflows"
    result = _check_jsonschema("vendor.github-workflows", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_servers_nginx_settings_name_every_template_variable() -> None:
    """The deploy renders the site with /etc/us-playback/nginx.env (from its example) plus the web
    root it sets itself; a new ${US_*} in the template needs a line in the example too."""
    from devtools.deploy import read_env_file

    template = (ROOT / "infra" / "nginx" / "us-playback.conf.template").read_text()
    needed = set(re.findall(r"\$\{(US_[A-Z0-9_]+)\}", template))
    known = set(read_env_file(ROOT / "infra" / "env" / "nginx.env.example")) | {"US_WEB_ROOT"}
    assert needed <= known, f"add {sorted(needed - known)} to infra/env/nginx.env.example"
