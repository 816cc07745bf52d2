"""Helpers of the speaker tests: a paired box (``us-speaker run`` with its own mpv), a second
IPC connection to that mpv that stamps what it sees, and a TCP proxy between box and nginx.

The box talks to the stack only through its public URL, like any client. mpv runs with
``--ao=null`` (real-time, no sound card) unless a test asks for PCM output to a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import UserClient
from us_speaker.credentials import Credentials, write_credentials

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
US_SPEAKER = str(Path(sys.executable).with_name("us-speaker"))


def pair_through_api(user: UserClient, server_url: str, credentials_path: Path, name: str = "Box") -> str:
    """Pair a box for ``user`` the way the CLI does, without the CLI; returns its device uuid."""
    codes = httpx.post(f"{server_url}/auth/device", data={"device_name": name, "client_id": "us-speaker"}).json()
    user.post_ok("/auth/device/approve", {"user_code": codes["user_code"]})
    tokens = httpx.post(
        f"{server_url}/auth/token", data={"grant_type": DEVICE_GRANT, "device_code": codes["device_code"]}
    ).json()
    write_credentials(credentials_path, Credentials(server_url, tokens["device_uuid"], tokens["refresh_token"]))
    return str(tokens["device_uuid"])


def write_config(
    state_dir: Path, mpv_args: list[str] | None = None, audio_output: str = "null", **settings: Any
) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    lines = [f'state_dir = "{state_dir}"', 'device_name = "Test box"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    lines += ["[mpv]", f"audio_output = {json.dumps(audio_output)}", f"extra_args = {json.dumps(mpv_args or [])}"]
    path = state_dir / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Box:
    """One ``us-speaker run`` process (and, through it, one mpv) that this test owns."""

    state_dir: Path
    device_uuid: str
    config: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.state_dir / "speaker.log"

    @property
    def socket(self) -> Path:
        return self.state_dir / "mpv.sock"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("US_")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [US_SPEAKER, "--config", str(self.config), "--log-level", "debug", "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Until the box follows the session's events with an mpv attached."""
        wait_until(
            lambda: "following the session's events" in self.log_text() and "mpv ready" in self.log_text(),
            timeout_s,
            "the box to be ready",
        )

    def mpv_pid(self) -> int:
        import psutil

        assert self.proc is not None
        children = []
        for child in psutil.Process(self.proc.pid).children():
            try:  # a killed mpv may be reaped between the listing and this read
                if child.name() == "mpv" and child.status() != psutil.STATUS_ZOMBIE:
                    children.append(child)
            except psutil.NoSuchProcess:
                continue
        assert len(children) == 1, children
        return int(children[0].pid)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Seen:
    at: float  # time.monotonic() when the line arrived
    message: dict[str, Any]


@dataclass
class MpvWatcher:
    """A second client of the box's mpv: observes properties and stamps every event it sees.

    mpv serves several IPC clients at once; this one only reads (get/observe), never steers.
    It reconnects by itself when mpv is replaced (the crash test)."""

    socket_path: Path
    seen: list[Seen] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _replies: dict[int, Any] = field(default_factory=dict)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _next_id: int = 1000

    PROPERTIES = ("pause", "time-pos", "idle-active", "volume", "playlist-pos", "path")

    def start(self) -> MpvWatcher:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
            except OSError:
                sock.close()
                time.sleep(0.02)
                continue
            try:
                for n, name in enumerate(self.PROPERTIES, start=1):
                    sock.sendall(json.dumps({"command": ["observe_property", n, name]}).encode() + b"\n")
            except OSError:
                # mpv quit (or was killed) between our connect and these lines: the next one.
                sock.close()
                time.sleep(0.02)
                continue
            self._sock = sock
            buffer = b""
            selector = selectors.DefaultSelector()
            selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(0.1):
                    continue
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    break  # mpv went away (quit or killed); connect to the next one
                at = time.monotonic()
                if not chunk:
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    with contextlib.suppress(ValueError):
                        message = json.loads(line)
                        if "request_id" in message:
                            self._replies[message["request_id"]] = message
                        with self._lock:
                            self.seen.append(Seen(at, message))
            selector.close()
            sock.close()
            self._sock = None

    def get(self, name: str, timeout_s: float = 3.0) -> Any:
        """A property's value; None while mpv is not there (not started yet, or restarting)."""
        sock = self._sock
        if sock is None:
            return None
        self._next_id += 1
        request_id = self._next_id
        try:
            sock.sendall(json.dumps({"command": ["get_property", name], "request_id": request_id}).encode() + b"\n")
        except OSError:
            return None
        deadline = time.monotonic() + timeout_s
        while request_id not in self._replies:
            if time.monotonic() > deadline or self._sock is not sock:
                return None
            time.sleep(0.002)
        reply = self._replies.pop(request_id)
        return reply.get("data") if reply.get("error") == "success" else None

    def values(self, name: str, since: float = 0.0) -> list[tuple[float, Any]]:
        with self._lock:
            return [
                (s.at, s.message.get("data"))
                for s in self.seen
                if s.at >= since and s.message.get("event") == "property-change" and s.message.get("name") == name
            ]

    def events(self, name: str, since: float = 0.0) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.at >= since and s.message.get("event") == name]

    def saw_event(self, name: str, since: float) -> bool:
        return bool(self.events(name, since))

    def saw_value(self, name: str, value: Any, since: float) -> bool:
        return any(v == value and type(v) is type(value) for _, v in self.values(name, since))

    def near(self, position_ms: float, tolerance_ms: float) -> bool:
        position = self.position_ms()
        return position is not None and abs(position - position_ms) < tolerance_ms

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.005)
        return time.monotonic()

    def playing(self) -> bool:
        return self.get("idle-active") is False and self.get("pause") is False

    def position_ms(self) -> float | None:
        value = self.get("time-pos")
        return float(value) * 1000 if isinstance(value, int | float) else None

    def offset_from(self, snapshot: dict[str, Any]) -> float:
        """mpv's position minus the session's projection at the same instant (ms)."""
        before = time.time()
        position = self.position_ms()
        after = time.time()
        assert position is not None, "mpv has no position"
        return position - projected_at_ms(snapshot, (before + after) / 2 * 1000)


def projected_at_ms(snapshot: dict[str, Any], wall_ms: float) -> float:
    """The session's position at ``wall_ms`` (the test shares the server's clock: same machine)."""
    position = float(snapshot["position_ms"])
    if snapshot["play_state"] == "playing":
        position += wall_ms - float(snapshot["server_time_ms"])
    return max(0.0, min(position, float(snapshot["track"]["duration_ms"])))


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every_s)


@contextlib.contextmanager
def running_box(box: Box) -> Iterator[tuple[Box, MpvWatcher]]:
    box.start()
    watcher = MpvWatcher(box.socket).start()
    box.wait_ready()
    try:
        yield box, watcher
    finally:
        watcher.close()
        box.stop()


class TcpProxy:
    """A TCP relay the test owns between the box and nginx, whose link it can cut.

    ``blackhole()`` is a dropped network as a box sees it: established connections stop carrying
    anything (bytes are swallowed, nothing is closed) and new ones are accepted and then hang.
    ``restore()`` ends it: the held connections are reset (as a router that lost their state
    would), and new ones are relayed again."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.dropped = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if not self.dropped.is_set():
                    sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)

    def blackhole(self) -> None:
        self.dropped.set()

    def restore(self) -> None:
        with self._lock:
            held = list(self._sockets)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes its pump, which closes both ends
        self.dropped.clear()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self.restore()
