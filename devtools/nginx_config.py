"""Rendering the nginx templates of ``infra/nginx``: only ``${US_*}`` names are substituted, so
nginx's own ``$variables`` stay. Standard library only (the deploy runs it on the server)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

_TEMPLATE_VAR = re.compile(r"\$\{(US_[A-Z0-9_]+)\}")


def render_template(template: Path, values: Mapping[str, str]) -> str:
    """The template with every ``${US_*}`` replaced; a name without a value is a KeyError."""

    def replace(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _TEMPLATE_VAR.sub(replace, template.read_text())
