"""``us-speaker pair URL``: the device side of RFC 8628 (docs/PAIRING.md).

Asks the server for codes, shows the person where to enter the user code, polls the token
endpoint at the server's interval (5 s more after each ``slow_down``, as §3.5 says) until the code
is approved, denied or expired, and stores the credential (0600). The password of the person never
touches the box.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from us_speaker.api import PLATFORM
from us_speaker.credentials import Credentials, write_credentials

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class PairingFailed(Exception):
    pass


async def pair(
    server_url: str,
    device_name: str,
    credentials_path: Path,
    say: Callable[[str], None],
) -> Credentials:
    server_url = server_url.rstrip("/")
    async with httpx.AsyncClient(base_url=server_url, timeout=15) as http:
        try:
            response = await http.post("/auth/device", data={"device_name": device_name, "client_id": PLATFORM})
        except httpx.HTTPError as exc:
            raise PairingFailed(f"cannot reach {server_url}: {exc}") from exc
        if response.status_code != 200:
            raise PairingFailed(f"{server_url} refused to pair ({response.status_code}): {response.text[:200]}")
        codes = response.json()
        say(f"To add this speaker, open {codes['verification_uri_complete']}")
        say(f"or go to {codes['verification_uri']} and enter the code: {codes['user_code']}")
        minutes = max(1, round(int(codes["expires_in"]) / 60))
        say(f"Waiting for approval (the code expires in {minutes} min)…")
        interval = float(codes["interval"])
        deadline = time.monotonic() + int(codes["expires_in"]) + 5
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            try:
                answer = await http.post(
                    "/auth/token",
                    data={"grant_type": DEVICE_GRANT, "device_code": codes["device_code"], "client_id": PLATFORM},
                )
            except httpx.HTTPError:
                continue  # the network comes and goes; the code is still valid
            if answer.status_code == 200:
                tokens = answer.json()
                credentials = Credentials(server_url, str(tokens["device_uuid"]), str(tokens["refresh_token"]))
                write_credentials(credentials_path, credentials)
                return credentials
            error = answer.json().get("error") if answer.status_code == 400 else None
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += 5
                continue
            if error == "access_denied":
                raise PairingFailed("the pairing was denied")
            if error == "expired_token":
                raise PairingFailed("the code expired before anyone approved it: run `us-speaker pair` again")
            if answer.status_code in (429, 502, 503, 504):
                continue
            raise PairingFailed(f"pairing failed ({answer.status_code}): {answer.text[:200]}")
    raise PairingFailed("the code expired before anyone approved it: run `us-speaker pair` again")
