"""Regression: a fresh control worker's first commands answered 500.

The command path reads the session row with Core SQL and builds the track with
``Track.model_construct`` (no ORM load). That does not configure SQLAlchemy's mappers, so in a
new process — a worker gunicorn just started after a crash, a reload or a deploy — reading any
attribute of such a track raised ``AttributeError`` until some ORM query had run. The fault stage
saw it as 500s right after control workers were killed. The app factory now configures them.
"""

from __future__ import annotations

import subprocess
import sys

from devtools.stack import Stack

# A new interpreter: what a freshly forked worker has before its first request.
_FIRST_TRACK_AFTER_CREATE_APP = """
from us_control.app import create_app
from us_control.models.sqlmodels import Track
create_app()
track = Track.model_construct(duration_ms=1234, title="Dawn")
print(track.duration_ms, track.title)
"""


def test_a_new_worker_reads_a_constructed_track_before_any_orm_query(stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_TRACK_AFTER_CREATE_APP],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1234", "Dawn"]
