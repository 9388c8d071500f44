"""The in-process accumulator: sums and per-statement figures, taken out at each flush."""

from __future__ import annotations

import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from app.metrics.normalize import fingerprint, normalise

MAX_STATEMENTS = 2000  # distinct statements kept between two flushes


@dataclass
class QueryFigures:
    query: str
    calls: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    last: float = 0.0  # epoch seconds

    def merge(self, other: QueryFigures) -> None:
        self.calls += other.calls
        self.total_ms += other.total_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        self.last = max(self.last, other.last)


@dataclass
class Snapshot:
    sums: dict[str, float] = field(default_factory=dict)
    queries: dict[str, QueryFigures] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.sums or self.queries)


class Collector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[str, float] = defaultdict(float)
        self._queries: dict[str, QueryFigures] = {}
        self._local = threading.local()

    def add(self, name: str, value: float = 1.0) -> None:
        with self._lock:
            self._sums[name] += value

    def query(self, statement: str, ms: float, at: float) -> None:
        text = normalise(statement)
        key = fingerprint(text)
        with self._lock:
            figures = self._queries.get(key)
            if figures is None:
                if len(self._queries) >= MAX_STATEMENTS:
                    return
                figures = self._queries[key] = QueryFigures(text)
            figures.calls += 1
            figures.total_ms += ms
            figures.max_ms = max(figures.max_ms, ms)
            figures.last = at

    def take(self) -> Snapshot:
        with self._lock:
            snapshot = Snapshot(dict(self._sums), self._queries)
            self._sums = defaultdict(float)
            self._queries = {}
        return snapshot

    def put_back(self, snapshot: Snapshot) -> None:
        """Keep a snapshot whose flush failed, for the next one."""
        with self._lock:
            for name, value in snapshot.sums.items():
                self._sums[name] += value
            for key, figures in snapshot.queries.items():
                if key in self._queries:
                    self._queries[key].merge(figures)
                else:
                    self._queries[key] = figures

    @contextmanager
    def suppressed(self):
        """Queries made inside (the metrics' own writes) are not measured."""
        self._local.suppressed = True
        try:
            yield
        finally:
            self._local.suppressed = False

    @property
    def is_suppressed(self) -> bool:
        return getattr(self._local, "suppressed", False)
