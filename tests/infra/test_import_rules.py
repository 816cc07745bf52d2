"""The layers of DESIGN.md, checked by import-linter: no service imports another (events and media
never import control), common imports no service. The contracts live in ``pyproject.toml``
(``[tool.importlinter]``); a workspace package that no contract names fails here too, so a new
package cannot slip past the rules."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _config() -> dict[str, object]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(pyproject["tool"]["importlinter"])


def workspace_packages() -> set[str]:
    """The top-level import package of every workspace member (``<member>/src/<package>/``)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages: set[str] = set()
    for member in pyproject["tool"]["uv"]["workspace"]["members"]:
        for init in (ROOT / member / "src").glob("*/__init__.py"):
            packages.add(init.parent.name)
    return packages


def test_every_workspace_package_is_under_the_rules() -> None:
    config = _config()
    named = set(config["root_packages"])  # type: ignore[call-overload]
    in_contracts: set[str] = set()
    for contract in config["contracts"]:  # type: ignore[attr-defined]
        for key in ("source_modules", "modules"):
            in_contracts.update(contract.get(key, []))
    packages = workspace_packages()
    assert {"us_common", "us_control", "us_events", "us_media"} <= packages
    assert packages <= named, f"add {sorted(packages - named)} to [tool.importlinter] root_packages"
    assert packages <= in_contracts, f"no contract says what {sorted(packages - in_contracts)} may import"


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout, result.stdout[-2000:]
