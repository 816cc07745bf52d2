"""Fixtures for control tests: a user with a registered device and tracks from the library."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.stack import Stack
from tests.support import ChannelRecorder, UserClient


@pytest.fixture
def listener(stack: Stack) -> Iterator[Callable[[UserClient], ChannelRecorder]]:
    recorders: list[ChannelRecorder] = []

    def factory(user: UserClient) -> ChannelRecorder:
        recorder = ChannelRecorder(stack, user.user_uuid)
        recorders.append(recorder)
        return recorder

    yield factory
    for recorder in recorders:
        recorder.close()


def by_title(user: UserClient) -> dict[str, dict[str, Any]]:
    return {t["title"]: t for t in user.tracks()}
