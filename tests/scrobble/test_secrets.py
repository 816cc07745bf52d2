"""Receivers' tokens: sealed at rest (a dump alone reveals none), bound to their row, never logged."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest

from devtools.maloja import ThrowawayMaloja
from devtools.stack import Stack
from tests.scrobble.conftest import add_target, control_log
from tests.support import UserClient, sql
from us_control.scrobble.tokens import TokenSealer, TokenUnreadable


def test_the_token_is_sealed_at_rest_and_never_logged(stack: Stack, user: UserClient, maloja: ThrowawayMaloja) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    refused = user.post("/scrobble/targets", {"base_url": maloja.listenbrainz_url, "token": wrong})
    assert refused.status_code == 422 and wrong not in refused.text
    target = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    target_uuid = uuid.UUID(target["target_uuid"])
    replaced = user.http.patch(f"/scrobble/targets/{target_uuid}", json={"token": maloja.api_key})
    assert replaced.status_code == 200 and maloja.api_key not in replaced.text

    row = sql(stack, "SELECT row_to_json(t)::text AS dump, token_sealed FROM scrobble_target t "
                     "WHERE target_uuid = $1", target_uuid)[0]  # fmt: skip
    sealed = bytes(row["token_sealed"])
    assert maloja.api_key not in row["dump"] and maloja.api_key.encode() not in sealed
    sealer = TokenSealer(stack.env["US_SCROBBLE_TOKEN_KEY"])
    assert sealer.open(sealed, target_uuid) == maloja.api_key  # it is the token, sealed
    with pytest.raises(TokenUnreadable):
        sealer.open(sealed, uuid.uuid4())  # copied onto another target's row: does not open
    with pytest.raises(TokenUnreadable):
        TokenSealer(secrets.token_hex(32)).open(sealed, target_uuid)  # a dump without control's key

    logs = control_log(stack) + Path(stack.log_file("nginx-access")).read_text(errors="replace")
    assert str(target_uuid) in logs  # the lines about this target are there ...
    assert maloja.api_key not in logs and wrong not in logs  # ... and no token in any of them


def test_an_earlier_key_still_opens_what_it_sealed() -> None:
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    target_uuid = uuid.uuid4()
    sealed = TokenSealer(old).seal("lb-token", target_uuid)
    assert TokenSealer(new, [old]).open(sealed, target_uuid) == "lb-token"
    resealed = TokenSealer(new, [old]).seal("lb-token", target_uuid)
    with pytest.raises(TokenUnreadable):
        TokenSealer(old).open(resealed, target_uuid)  # new seals use the current key
