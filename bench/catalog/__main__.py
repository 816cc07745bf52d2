"""``python -m bench.catalog [--tracks 200000] [--rounds 30] [--keep]``

The catalog at the size of a big real library, on this machine, through nginx with 2 control
workers: a library of ``--tracks`` copies of one short real FLAC (``bench.catalog.library``;
written once under bench/out and reused), scanned from scratch and again unchanged, then
searched, browsed and its covers fetched on one keep-alive connection (a person's requests
come one after the other), and a file copied in until the watcher makes it searchable.

Prints each figure beside its target (issue 11); not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil

from bench.catalog.library import FlacTemplate, plan_library, write_library
from devtools.ephemeral import start_stack, stop_stack
from devtools.flacgen import write_flac
from devtools.stack import Stack

OUT = Path(__file__).resolve().parent.parent / "out"
LIBRARY = "Bench"
PASSWORD = "bench password that is long enough"

# The mix: one word, two words out of order, accented and plain, 3-letter prefix, none.
SEARCHES = [
    "light",
    "river",
    "orbit silver",
    "harbour glass",
    "café",
    "cafe",
    "ünïcødé",
    "lig",
    "noc",
    "zzqxv",
]


Request = tuple[str, dict[str, Any]]


@dataclass
class Latencies:
    samples_ms: list[float] = field(default_factory=list)
    failures: int = 0
    by_request: dict[str, list[float]] = field(default_factory=dict)

    def add(self, ms: float, request: str = "") -> None:
        self.samples_ms.append(ms)
        self.by_request.setdefault(request, []).append(ms)

    def slowest(self, count: int = 3) -> str:
        """The requests with the highest median, to say which page a p99 is made of."""
        medians = {r: sorted(v)[len(v) // 2] for r, v in self.by_request.items() if r}
        worst = sorted(medians.items(), key=lambda kv: -kv[1])[:count]
        return "    slowest (median): " + "; ".join(f"{r} {ms:.1f} ms" for r, ms in worst)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def line(self, name: str, target: str) -> str:
        return (
            f"{name:44} p50 {self.quantile(0.5):7.2f} ms  p99 {self.quantile(0.99):7.2f} ms  "
            f"max {max(self.samples_ms or [float('nan')]):7.2f} ms  n={len(self.samples_ms)}"
            f"{f'  failed={self.failures}' if self.failures else ''}   target {target}"
        )


def ensure_library(tracks: int) -> Path:
    """The generated library under bench/out (written once per size; a marker says it is whole)."""
    root = OUT / f"catalog-{tracks}" / "music"
    marker = root.parent / "complete"
    if marker.exists():
        return root
    shutil.rmtree(root.parent, ignore_errors=True)
    root.mkdir(parents=True)
    started = time.monotonic()
    template_path = root.parent / "template.flac"
    write_flac(template_path, duration_s=0.5, title="t", artist="a", album="b", sample_rate=8000)
    albums = plan_library(tracks)
    written = write_library(root / LIBRARY, albums, FlacTemplate.read(template_path))
    marker.write_text(f"{written} tracks, {len(albums)} albums\n")
    print(
        f"wrote the library: {written} tracks, {len(albums)} albums in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return root


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def timed_scan(stack: Stack, root: Path) -> tuple[float, dict[str, int], int]:
    """Seconds, the summary, and the peak RSS of usctl and its reader processes together."""
    usctl = Path(sys.executable).with_name("usctl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("US_")} | stack.env
    started = time.monotonic()
    errors = tempfile.TemporaryFile(mode="w+")  # what usctl says when it fails (a file: never blocks it)
    child = subprocess.Popen(
        [str(usctl), "library", "scan", str(root / LIBRARY), "--name", LIBRARY, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    peak = 0
    watched = psutil.Process(child.pid)
    while child.poll() is None:
        peak = max(peak, tree_rss(watched))
        time.sleep(0.1)
    took = time.monotonic() - started
    out = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        errors.seek(0)
        said = errors.read().strip().splitlines()[-5:]
        raise RuntimeError(f"scan failed ({child.returncode}) after {took:.0f} s: {' / '.join(said)}")
    errors.close()
    return took, json.loads(out), peak


class Client:
    """One keep-alive connection through nginx, as one person's browser tab."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", int(stack.env["US_NGINX_PORT"]), timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[int, bytes, float]:
        target = path + (("?" + urlencode(params)) if params else "")
        started = time.perf_counter()
        self.conn.request("GET", target, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - started) * 1000

    def json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        status, body, _ = self.get(path, params)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:200]!r}")
        return json.loads(body)


def measure(client: Client, requests: list[Request], rounds: int) -> Latencies:
    found = Latencies()
    for _ in range(rounds):
        for path, params in requests:
            status, _, ms = client.get(path, params)
            found.add(
                ms, re.sub(r"/[0-9a-f-]{36}", "/{uuid}", path) + ("?" + urlencode(params) if params else "")
            )
            found.failures += status != 200
    return found


def login(stack: Stack) -> str:
    stack.usctl(
        "user",
        "import",
        "-",
        stdin=json.dumps({"username": "bench", "password": PASSWORD, "libraries": [LIBRARY]}),
    )
    response = httpx.post(f"{stack.public_url}/auth/token", data={"username": "bench", "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def browse_mix(client: Client, total_tracks: int) -> list[Request]:
    artists = client.json("/artists", {"limit": 1})
    albums_total = int(client.json("/albums", {"limit": 1})["total"])
    artist_total = int(artists["total"])
    some_artist = client.json("/artists", {"limit": 1, "offset": artist_total // 2})["items"][0][
        "artist_uuid"
    ]
    some_album = client.json("/albums", {"limit": 1, "offset": albums_total // 3})["items"][0]["album_uuid"]
    mix: list[Request] = [
        ("/artists", {"limit": 50}),
        ("/artists", {"limit": 50, "offset": artist_total - 60}),
        (f"/artists/{some_artist}", {}),
        (f"/albums/{some_album}", {}),
        ("/genres", {}),
        ("/albums", {"limit": 50, "genre": "Rock"}),
        ("/albums", {"limit": 50, "genre": "Jazz", "sort": "year"}),
        ("/albums", {"limit": 50, "year": 1999}),
        ("/tracks", {"limit": 50}),
        ("/tracks", {"limit": 50, "offset": total_tracks // 2}),
        ("/tracks", {"limit": 50, "offset": total_tracks - 100}),
    ]
    for sort in ("name", "artist", "year", "added"):
        mix += [
            ("/albums", {"limit": 50, "sort": sort}),
            ("/albums", {"limit": 50, "sort": sort, "offset": albums_total - 80}),
        ]
    return mix


def cover_urls(client: Client) -> list[str]:
    urls: list[str] = []
    offset = 0
    while len(urls) < 50:
        page = client.json("/albums", {"limit": 200, "offset": offset, "sort": "artist"})
        urls += [a["cover_url"] for a in page["items"] if a["cover_url"]]
        offset += 200
    return urls[:50]


def parallel_covers(stack: Stack, token: str, urls: list[str], connections: int, rounds: int) -> Latencies:
    """A grid loading: ``connections`` keep-alive connections (a browser opens six) sharing the page."""
    found = Latencies()
    lock = threading.Lock()

    def worker(share: list[str]) -> None:
        client = Client(stack, token)
        for _ in range(rounds):
            for url in share:
                status, _, ms = client.get(url)
                with lock:
                    found.add(ms)
                    found.failures += status != 200

    threads = [threading.Thread(target=worker, args=(urls[i::connections],)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def watcher_latency(stack: Stack, root: Path, client: Client) -> float:
    """Seconds from a file copied into the library to its title being found by search."""
    folder = root / LIBRARY / "Zz Bench Copied" / f"{int(time.time())}"
    title = f"Copied Zebra Quokka {os.getpid()}"
    started = time.monotonic()
    write_flac(
        folder / "01 Copied.flac",
        duration_s=0.5,
        title=title,
        artist="Copied",
        album="Copied",
        sample_rate=8000,
    )
    while time.monotonic() - started < 300:
        page = client.json("/tracks", {"q": title})
        if page["total"]:
            return time.monotonic() - started
        time.sleep(0.25)
    return float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.catalog")
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="leave the stack running (prints its URL)")
    args = parser.parse_args()
    root = ensure_library(args.tracks)
    lines = [
        f"catalog at {args.tracks:,} tracks through nginx — {platform.node()}, {os.cpu_count()} cores, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}, load {os.getloadavg()[0]:.2f}",
        "control: 2 workers; one keep-alive connection, requests one after the other unless said",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        stack = start_stack(
            Path(tmp) / "stack",
            root,
            US_LOG_LEVEL="warning",
            US_RATE_LIMIT_LOGIN="",
            US_LIBRARY_WATCH="true",
            US_LIBRARY_WATCH_SETTLE_S="1",
            US_LIBRARY_RESCAN_INTERVAL_S="0",
            US_DB_STATEMENT_TIMEOUT_MS="60000",
        )
        try:
            took, summary, peak = timed_scan(stack, root)
            lines.append(
                f"{'first scan':44} {summary['scanned'] / took:7,.0f} files/s ({summary['scanned']:,} files, "
                f"{took:.1f} s), peak RSS {peak / 2**20:.0f} MiB (usctl and its readers)   "
                "target >= 1,500 files/s, <= 300 MiB"
            )
            rescan, again, _ = timed_scan(stack, root)
            lines.append(
                f"{'unchanged rescan':44} {rescan:7.1f} s ({again['unchanged']:,} unchanged)   target <= 20 s"
            )
            client = Client(stack, login(stack))
            client.json("/tracks", {"limit": 1})
            searches = [("/tracks", {"q": q, "limit": 50}) for q in SEARCHES]
            grouped = [("/search", {"q": q}) for q in SEARCHES]
            measure(client, searches + grouped, 2)  # warm the caches
            mix = browse_mix(client, int(summary["added"]))
            measure(client, mix, 2)
            for requests, name in (
                (searches, "search: /tracks?q= (page of 50), the mix"),
                (grouped, "search: /search?q= (3 groups of 5), the mix"),
                (mix, f"browse: {len(mix)} pages, deep offsets, filters"),
            ):
                found = measure(client, requests, args.rounds)
                lines += [found.line(name, "p99 <= 20 ms"), found.slowest()]
            urls = cover_urls(client)
            token = client.headers["Authorization"].split()[1]
            measure(client, [(u, {}) for u in urls], 1)
            lines.append(
                measure(client, [(u, {}) for u in urls], args.rounds).line(
                    "covers: 50 thumbnails, one connection", "p99 <= 5 ms each"
                )
            )
            lines.append(
                parallel_covers(stack, token, urls, 6, args.rounds).line(
                    "covers: 50 thumbnails, 6 connections", "p99 <= 5 ms each"
                )
            )
            seconds = watcher_latency(stack, root, client)
            lines.append(
                f"{'a file copied in: searchable after':44} {seconds:7.1f} s (no command)   target <= 60 s"
            )
            if args.keep:
                print(f"stack left running at {stack.public_url} (run dir {tmp})", file=sys.stderr)
                input("press Enter to stop it ")
        finally:
            stop_stack(stack)
            shutil.rmtree(root / LIBRARY / "Zz Bench Copied", ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
