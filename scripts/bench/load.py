"""A small HTTP/1.1 load driver: N keep-alive connections on asyncio, loopback targets only."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    sent: int = 0  # every request answered, warm-up included

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")

    def merge(self, other: Result) -> Result:
        return Result(self.seconds + other.seconds, self.latencies + other.latencies,
                      self.failures + other.failures, self.sent + other.sent)

    def summary(self) -> dict:
        return {"requests": len(self.latencies), "failures": self.failures,
                "rps": self.requests_per_second, "p50_ms": self.percentile(0.50) * 1000,
                "p99_ms": self.percentile(0.99) * 1000,
                "mean_ms": statistics.fmean(self.latencies) * 1000 if self.latencies else 0}


def _request(host: str, port: int, path: str, headers: dict) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[bool, bool]:
    """(status was 200, server will close) after reading one whole response."""
    status = await reader.readline()
    if not status:
        raise ConnectionError("the server closed the connection")
    length, closing = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            closing = value.strip().lower() == b"close"
    await reader.readexactly(length)
    return status.split(b" ", 2)[1] == b"200", closing


async def _connection(host, port, request, deadline, result, record_from):
    reader = writer = None
    try:
        while (started := time.perf_counter()) < deadline:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            ok, closing = await _read_response(reader)
            result.sent += 1
            if started >= record_from:
                result.latencies.append(time.perf_counter() - started)
                result.failures += not ok
            if closing:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def _drive(host, port, path, headers, connections, seconds, warmup) -> Result:
    request = _request(host, port, path, headers)
    record_from = time.perf_counter() + warmup
    deadline = record_from + seconds
    result = Result(seconds=seconds)
    await asyncio.gather(*(_connection(host, port, request, deadline, result, record_from)
                           for _ in range(connections)))
    return result


def drive(port: int, path: str, *, headers: dict | None = None, connections: int = 32,
          seconds: float = 10.0, warmup: float = 2.0) -> Result:
    """GET `path` on 127.0.0.1:`port` from `connections` connections; latencies after warmup."""
    return asyncio.run(_drive("127.0.0.1", port, path, headers or {}, connections, seconds,
                              warmup))
