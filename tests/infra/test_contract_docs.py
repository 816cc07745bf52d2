"""The contract lives in the repository and stays true: the checked-in OpenAPI schemas match the
apps (so an API change is a visible diff), and the README's settings table names every setting
the services read (so an operator never has to read code to find one)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pydantic_settings import BaseSettings

from us_control.settings import ControlSettings
from us_events.settings import EventsSettings
from us_media.settings import MediaSettings

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_openapi_schemas_match_the_apps() -> None:
    # A subprocess: building the apps configures logging, which must not leak into this run.
    result = subprocess.run(
        [sys.executable, "-m", "devtools.openapi", "check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def test_readme_settings_table_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("| `US_"))
    documented = set(re.findall(r"`(US_[A-Z0-9_]+)`", rows))
    wanted = _env_names(ControlSettings) | _env_names(EventsSettings) | _env_names(MediaSettings)
    missing = sorted(wanted - documented)
    assert not missing, f"README's settings table lacks: {missing}"
