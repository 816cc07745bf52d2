"""The ListenBrainz submission API, as every receiver we support speaks it (httpx).

``POST {base_url}/1/submit-listens`` with ``Authorization: Token …`` and a JSON body
``{"listen_type": "single" | "playing_now" | "import", "payload": [listen, ...]}``, and
``GET {base_url}/1/validate-token``. What the answer means for delivery is decided here, once:

- 2xx: taken. 401: the token is refused (nothing was stored). 429: slow down (nothing stored).
- No connection at all (refused, DNS, connect timeout) or 404/405: nothing reached the receiver.
- 400/409/413/422: the receiver refuses this payload. Maloja stores the listens of an ``import``
  one by one and stops at the first it refuses, so after such an answer the listens of that
  request may or may not be there.
- Anything else (5xx, a read timeout, a dropped connection): the request may have been processed.

Rate limits: ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset-In`` (seconds; ``X-RateLimit-Reset``,
epoch seconds, as a fallback) and ``Retry-After`` on 429 are read from every answer.
The token is only ever put in the ``Authorization`` header, never in a URL, a log line or an error.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from us_control.scrobble.receiver_url import Receiver, ReceiverUrlRefused, resolve

ListenType = Literal["single", "playing_now", "import"]
# Limits of the ListenBrainz API (listenbrainz.webserver.views.api_tools).
MAX_LISTENS_PER_REQUEST = 1000
MAX_LISTEN_SIZE = 10240


def user_agent(public_url: str) -> str:
    """ListenBrainz asks for "name/version ( contact )": this deployment's own address."""
    return f"UniversalScrobbler-Playback/0.1.0 ( {public_url} )"


class Outcome(enum.Enum):
    TAKEN = "taken"
    TOKEN_REFUSED = "token_refused"
    RATE_LIMITED = "rate_limited"
    NOT_SENT = "not_sent"  # certainly not processed
    REJECTED = "rejected"  # the receiver refuses this payload
    UNKNOWN = "unknown"  # may have been processed


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    status: int | None
    error: str | None = None
    # Seconds until the receiver wants the next request (rate-limit headers), when it said so.
    wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class TokenCheck:
    valid: bool
    user_name: str | None
    error: str | None


def _reason(response: httpx.Response) -> str:
    """A short, safe description of a refusal (the receiver's own message when it gives one)."""
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            message = str(body.get("error") or body.get("message") or "")
    except ValueError:
        pass
    message = " ".join(message.split())[:200]
    return f"HTTP {response.status_code}" + (f": {message}" if message else "")


def rate_limit_wait_s(headers: Mapping[str, str], status: int) -> float | None:
    """How long the receiver asks us to wait before the next request, if it says so."""

    def number(name: str) -> float | None:
        try:
            return float(headers[name])
        except (KeyError, ValueError):
            return None

    reset_in = number("x-ratelimit-reset-in")
    if reset_in is None and (reset_at := number("x-ratelimit-reset")) is not None:
        reset_in = reset_at - time.time()
    remaining = number("x-ratelimit-remaining")
    if status == 429:
        retry_after = number("retry-after")
        wait = reset_in if reset_in is not None else retry_after
        return max(1.0, wait) if wait is not None else None
    if remaining is not None and remaining <= 0 and reset_in is not None:
        return max(0.0, reset_in)
    return None


def classify(response: httpx.Response) -> Answer:
    status = response.status_code
    wait = rate_limit_wait_s(response.headers, status)
    if 200 <= status < 300:
        return Answer(Outcome.TAKEN, status, wait_s=wait)
    if status == 401:
        return Answer(Outcome.TOKEN_REFUSED, status, _reason(response), wait)
    if status == 429:
        return Answer(Outcome.RATE_LIMITED, status, _reason(response), wait)
    if status in (404, 405):
        return Answer(Outcome.NOT_SENT, status, f"{_reason(response)} (is base_url the API root?)", wait)
    if status in (400, 409, 413, 422):
        return Answer(Outcome.REJECTED, status, _reason(response), wait)
    return Answer(Outcome.UNKNOWN, status, _reason(response), wait)


class ListenBrainzClient:
    """One per worker; requests go to the address :mod:`receiver_url` checked."""

    def __init__(
        self, http: httpx.AsyncClient, allow_hosts: frozenset[str], timeout_s: float, user_agent: str
    ) -> None:
        self.http = http
        self.allow_hosts = allow_hosts
        self.timeout_s = timeout_s
        self.user_agent = user_agent

    async def _request(
        self, method: str, base_url: str, path: str, token: str, body: Any = None, listens: int = 0
    ) -> httpx.Response:
        receiver: Receiver = await resolve(base_url, self.allow_hosts)
        headers = {
            "Host": receiver.host_header,
            "Authorization": f"Token {token}",
            "User-Agent": self.user_agent,
            "Accept": "application/json",
        }
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return await self.http.request(
            method,
            receiver.url(path),
            headers=headers,
            content=content,
            # A receiver stores an import listen by listen (Maloja: ~10-30 ms each): give a batch
            # time, so that a slow answer is not taken for a lost one (which forces resends).
            timeout=httpx.Timeout(self.timeout_s + 0.2 * listens, connect=min(self.timeout_s, 5.0)),
            extensions={"sni_hostname": receiver.host},
        )

    async def validate_token(self, base_url: str, token: str) -> TokenCheck:
        """Ask the receiver whether it takes ``token``. Raises :class:`ReceiverUrlRefused` for a
        URL we must not call and ``httpx.HTTPError`` when the receiver cannot be reached."""
        response = await self._request("GET", base_url, "/1/validate-token", token)
        if response.status_code == 401:
            return TokenCheck(False, None, _reason(response))
        if response.status_code != 200:
            raise ReceiverUnexpected(f"validate-token answered {_reason(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ReceiverUnexpected("validate-token did not answer JSON (is base_url the API root?)") from exc
        if not isinstance(body, dict) or "valid" not in body:
            raise ReceiverUnexpected("validate-token answered something else than ListenBrainz's JSON")
        user = body.get("user_name") or body.get("user")
        return TokenCheck(bool(body["valid"]), str(user)[:200] if user else None, str(body.get("message") or ""))

    async def submit(
        self, base_url: str, token: str, listen_type: ListenType, payload: Sequence[dict[str, Any]]
    ) -> Answer:
        try:
            response = await self._request(
                "POST",
                base_url,
                "/1/submit-listens",
                token,
                {"listen_type": listen_type, "payload": list(payload)},
                listens=len(payload),
            )
        except ReceiverUrlRefused as exc:
            return Answer(Outcome.NOT_SENT, None, str(exc))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Answer(Outcome.NOT_SENT, None, f"cannot connect: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            # The request may have been written and processed before the connection broke.
            return Answer(Outcome.UNKNOWN, None, f"no answer: {type(exc).__name__}")
        return classify(response)


class ReceiverUnexpected(Exception):
    """The receiver answered, but not like a ListenBrainz API root."""
