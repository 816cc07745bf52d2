"""Settings refuse placeholder or shared secrets and resolve the music root."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from us_common.settings import CommonSettings, redact_url

GOOD_A = "0123456789abcdef0123456789abcdef"
GOOD_B = "fedcba9876543210fedcba9876543210"


def test_placeholder_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        CommonSettings(access_token_key="a" * 40, media_token_key=GOOD_B)


def test_the_two_keys_must_differ() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        CommonSettings(access_token_key=GOOD_A, media_token_key=GOOD_A)


def test_music_root_is_made_absolute_and_info_has_no_secrets() -> None:
    settings = CommonSettings(
        access_token_key=GOOD_A,
        media_token_key=GOOD_B,
        music_root="rel/music",
        redis_url="redis://svc:hunter2@127.0.0.1:6379/0",
    )
    info = settings.public_info()
    assert str(info["music_root"]).startswith("/")
    assert GOOD_A not in str(info) and GOOD_B not in str(info) and "hunter2" not in str(info)


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact_url("redis://h:6379") == "redis://h:6379"
