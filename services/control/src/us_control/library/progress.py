"""What a scan reports: its summary (counts) and the progress bar ``usctl library scan`` draws."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO
from uuid import UUID


@dataclass
class ScanSummary:
    library_uuid: UUID
    name: str
    rel_root: str
    # Each entry the walk found is exactly one of added/updated/unchanged/skipped.
    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # Tracks of this library that are unavailable after the scan (gone or unreadable).
    unavailable: int = 0
    skipped: int = 0
    renamed_from: str | None = None
    # Files the walk found (known once the walk is over) and how many have been dealt with.
    total: int | None = None

    @property
    def done(self) -> int:
        return self.added + self.updated + self.unchanged + self.skipped

    def counts(self) -> str:
        return (
            f"scanned={self.scanned} added={self.added} updated={self.updated} "
            f"unchanged={self.unchanged} unavailable={self.unavailable} skipped={self.skipped}"
        )

    def line(self) -> str:
        return f"library {self.name!r} ({self.library_uuid}): {self.counts()}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["library_uuid"] = str(self.library_uuid)
        del data["total"]
        return data


BAR_WIDTH = 24


@dataclass
class ScanProgress:
    """A progress line redrawn on a terminal (bar, rate, time left); silent when not a TTY."""

    stream: TextIO | None
    interval_s: float = 0.1
    _started: float = field(default_factory=time.monotonic, init=False)
    _last: float = field(default=0.0, init=False)
    _shown: bool = field(default=False, init=False)

    @property
    def enabled(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def render(self, summary: ScanSummary, now: float) -> str:
        line = f"scanning {summary.name}: {summary.counts()}"
        if summary.total:
            share = min(1.0, summary.done / summary.total)
            filled = round(share * BAR_WIDTH)
            elapsed = max(now - self._started, 1e-6)
            rate = summary.done / elapsed
            left = (summary.total - summary.done) / rate if rate > 0 else 0.0
            line += (
                f" [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {summary.done}/{summary.total}"
                f" {rate:,.0f} files/s, {int(left) // 60}:{int(left) % 60:02d} left"
            )
        return line

    def update(self, summary: ScanSummary, force: bool = False) -> None:
        if not self.enabled or self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        self.stream.write(f"\r\x1b[K{self.render(summary, now)}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the line before something else is written to the terminal."""
        if self._shown and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def done(self, summary: ScanSummary) -> None:
        self.update(summary, force=True)
        if self._shown and self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
