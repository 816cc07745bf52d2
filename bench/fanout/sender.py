"""A light HTTP/1.1 sender for the end-to-end bench: a few keep-alive connections, one request
at a time on each, requests written and responses read by hand (``Content-Length`` bodies).

httpx was the bottleneck it measured: its pool re-examines every connection on each change
(``_assign_requests_to_connections``), which cost the driver ~8 ms of CPU per command and
capped it below the 200 commands/s it had to send. This costs a few tens of µs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the parsed JSON, or None


class ConnectionLost(Exception):
    """The connection ended before a whole response was read (a "network error" to a user)."""


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> Answer:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        try:
            status_line, _, rest = (await self.reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.close()
            raise ConnectionLost(type(exc).__name__) from exc
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(b":") for line in rest.split(b"\r\n") if line)
        }
        length = int(headers.get(b"content-length", b"0"))
        try:
            payload = await self.reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.close()
            raise ConnectionLost(type(exc).__name__) from exc
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        status = int(status_line.split(b" ", 2)[1])
        return Answer(status, json.loads(payload) if payload else None)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Sender:
    """``connections`` keep-alive connections shared by every caller; a caller waits for a free
    one (that wait is part of what it measures)."""

    def __init__(self, host: str, port: int, connections: int) -> None:
        self._host = f"{host}:{port}".encode()
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        self._all = [_Connection(host, port) for _ in range(connections)]
        for connection in self._all:
            self._idle.put_nowait(connection)

    async def post_json(self, path: str, body: Any, token: str) -> Answer:
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host.decode()}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        connection = await self._idle.get()
        try:
            return await connection.request(head, payload)
        finally:
            self._idle.put_nowait(connection)

    async def aclose(self) -> None:
        for connection in self._all:
            with contextlib.suppress(Exception):
                connection.close()
