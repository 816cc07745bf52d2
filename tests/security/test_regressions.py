"""Regressions found by the hostile-input runs (each test is named after its bug)."""

from __future__ import annotations

import pytest

from tests.support import UserClient

HUGE = 10**21  # beyond Postgres bigint: was passed to OFFSET and came back as a 500


@pytest.mark.parametrize("path", ["/devices", "/likes", "/listens", "/queue", "/tracks", "/albums"])
def test_a_huge_offset_is_a_422_not_a_500(user: UserClient, path: str) -> None:
    response = user.get(path, params={"offset": HUGE})
    assert response.status_code == 422, response.text
    assert any("offset" in map(str, error["loc"]) for error in response.json()["detail"])
    assert user.get(path, params={"offset": 1_000_000_000}).status_code == 200
