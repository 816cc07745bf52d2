"""Bodies of ``/scrobble/targets`` (DESIGN.md "Scrobble targets"). The token goes in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

# Printable ASCII without spaces: it travels in an HTTP header (no CR/LF smuggling).
ReceiverToken = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[\x21-\x7e]+$")]
TargetState = Literal["ok", "paused", "token_refused", "failing"]


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: Annotated[str, Field(min_length=1, max_length=2048)]
    token: ReceiverToken


class TargetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: ReceiverToken | None = None
    paused: Annotated[bool, Field(strict=True)] | None = None


class TargetPublic(BaseModel):
    target_uuid: UUID
    kind: Literal["listenbrainz"]
    base_url: str
    state: TargetState
    paused: bool
    # Listens waiting for this target / taken by it / refused by it (with last_error saying why).
    pending: int
    delivered: int
    refused: int
    last_error: str | None
    last_delivered_at: datetime | None
    # When the sender tries again (set while failing or while the token is refused).
    next_attempt_at: datetime | None
    # The account the receiver says the token belongs to (validate-token's user_name).
    receiver_user: str | None
    created_at: datetime


class TargetPage(BaseModel):
    items: list[TargetPublic]
    total: int
    limit: int
    offset: int
