"""Fixtures of the speaker tests: paired boxes for fresh users of the run's stack."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.stack import Stack
from tests.speaker.support import Box, MpvWatcher, pair_through_api, running_box, write_config
from tests.support import UserClient

BoxFactory = Callable[..., tuple[Box, MpvWatcher]]


@pytest.fixture
def make_box(stack: Stack, tmp_path: Path) -> Iterator[BoxFactory]:
    """``make_box(user, server_url=None, mpv_args=None, **config)``: a box paired to ``user``,
    running, with a watcher on its mpv; both stopped at the end of the test."""
    with contextlib.ExitStack() as boxes:
        count = 0

        def factory(
            user: UserClient, server_url: str | None = None, mpv_args: list[str] | None = None, **settings: Any
        ) -> tuple[Box, MpvWatcher]:
            nonlocal count
            state = tmp_path / f"box{count}"
            count += 1
            config = write_config(state, mpv_args, **settings)
            device = pair_through_api(user, server_url or stack.public_url, state / "credentials.json")
            return boxes.enter_context(running_box(Box(state, device, config)))

        yield factory
