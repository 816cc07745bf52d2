"""What the scrobble routes and the sender share in one worker (``app.state.scrobble``)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from us_control.scrobble.listenbrainz import ListenBrainzClient, user_agent
from us_control.scrobble.receiver_url import allowed_hosts
from us_control.scrobble.tokens import TokenSealer, sealer_from_settings
from us_control.settings import ControlSettings


@dataclass
class ScrobbleRuntime:
    settings: ControlSettings
    client: ListenBrainzClient
    http: httpx.AsyncClient
    sealer: TokenSealer | None

    async def aclose(self) -> None:
        await self.http.aclose()


def build_runtime(settings: ControlSettings) -> ScrobbleRuntime:
    # No redirects (a receiver could point us anywhere), no proxy variables from the environment
    # (requests go to the address the SSRF check approved).
    http = httpx.AsyncClient(
        timeout=settings.scrobble_http_timeout_s,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
    )
    client = ListenBrainzClient(
        http,
        allowed_hosts(settings.scrobble_allow_hosts),
        settings.scrobble_http_timeout_s,
        user_agent(settings.public_url),
    )
    return ScrobbleRuntime(settings, client, http, sealer_from_settings(settings))
