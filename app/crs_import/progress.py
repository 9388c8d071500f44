"""A small progress bar on stderr, one per import phase; no dependency."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """Redraws one line on a terminal; elsewhere (logs, pipes) prints only the finished line."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._draw()

    def advance(self, step: int = 1) -> None:
        self.done += step
        if self.live:
            self._draw()

    def close(self) -> None:
        if self.live:
            self._draw()
            self.stream.write("\n")
        else:
            self.stream.write(self._line() + "\n")
        self.stream.flush()

    def _line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = int(WIDTH * min(share, 1.0))
        return (f"{self.label:<9} [{'#' * filled}{'.' * (WIDTH - filled)}] "
                f"{self.done}/{self.total}")

    def _draw(self) -> None:
        if self.live:
            self.stream.write("\r" + self._line())
            self.stream.flush()


def silent(label: str, total: int) -> ProgressBar:
    """A bar that writes nowhere (services called from code rather than the command line)."""
    return _Silent(label, total)


class _Silent(ProgressBar):
    def __init__(self, label: str, total: int):
        self.label, self.total, self.done, self.live = label, total, 0, False

    def close(self) -> None:
        pass
