"""Benchmark the upstream call alone: CPU per provider request in one process, against nginx.

    python scripts/bench/provider_call.py                    # 2000 calls per case
    python scripts/bench/provider_call.py --profile openai-stream
    python scripts/bench/provider_call.py --upstream stub   # streams in chunks, one per event
    python scripts/bench/provider_call.py --via direct      # only the direct pool (no httpx)

Starts the nginx stub (scripts/bench/nginx_stub.py: each answer in one piece) or, with
`--upstream stub`, scripts/stub_upstream.py (16 tokens, each event its own HTTP chunk, as real
upstreams stream), in its own process and not counted, and sends
requests through the provider clients (app.providers) as the relay routes do: one client built
per call, a JSON answer parsed or a stream read event by event. `--via direct` sends through
the shared direct pool (app/providers/direct_pool.py, what an account without a proxy uses),
`--via httpx` through the shared pooled httpx.Client (what a proxied account uses, here with no
proxy); both by default, in the same run, with their ratio. Prints this process's CPU time per
call (time.process_time) and the wall time per call for each case, so a change in how the call
is made or read can be compared with its base.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app.providers import (  # noqa: E402
    ChatRequest,
    ProviderAccount,
    client_for,
    shared_http_client,
)
from scripts.bench.nginx_stub import NginxStub  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

BODY = {"messages": [{"role": "user", "content": "benchmark me"}], "max_tokens": 16}
CASES = {  # name: (provider, stream)
    "openai": ("openai", False), "openai-stream": ("openai", True),
    "anthropic": ("claude", False), "anthropic-stream": ("claude", True),
}


def _call(provider: str, base_url: str, stream: bool, via: str) -> int:
    root = base_url + "/v1" if provider == "openai" else base_url
    http = shared_http_client(None) if via == "httpx" else None
    client = client_for(provider, ProviderAccount(base_url=root, api_key="bench"), http=http)
    request = ChatRequest(model="bench-model", messages=BODY["messages"], max_tokens=16,
                          stream=stream, native=dict(BODY, model="bench-model"),
                          headers={"user-agent": "bench"})
    if not stream:
        return len(client.complete(request).raw)
    with client.stream(request) as events:
        return sum(len(event.data) for event in events)


def _start(upstream: str) -> tuple[NginxStub | subprocess.Popen, str]:
    if upstream == "nginx":
        nginx = NginxStub(free_port(), free_port())
        return nginx, nginx.start()
    port = free_port()
    process = subprocess.Popen([sys.executable, "scripts/stub_upstream.py", "--port", str(port),
                                "--tokens", "16"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/__stub/requests", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the stub upstream did not start")


def _stop(stub: NginxStub | subprocess.Popen) -> None:
    if isinstance(stub, NginxStub):
        stub.stop()
    else:
        stub.terminate()
        stub.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--profile", choices=sorted(CASES))
    parser.add_argument("--upstream", choices=["nginx", "stub"], default="nginx")
    parser.add_argument("--via", default="direct,httpx",
                        help="direct, httpx or both (comma-separated)")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    stub, base_url = _start(args.upstream)
    try:
        names = [args.profile] if args.profile else args.cases.split(",")
        vias = args.via.split(",")
        print(f"{'case':<18} {'via':<7} {'CPU us/call':>12} {'wall us/call':>13} {'CPU ratio':>10}")
        for name in names:
            provider, stream = CASES[name]
            cpu_by_via = {}
            for via in vias:
                for _ in range(200):
                    _call(provider, base_url, stream, via)
                # CPU time, not wall time: the machine is shared, a wait is not work.
                profiler = cProfile.Profile(time.process_time) if args.profile else None
                cpu, wall = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                for _ in range(args.requests):
                    _call(provider, base_url, stream, via)
                if profiler:
                    profiler.disable()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                cpu_by_via[via] = cpu
                ratio = f"{cpu / cpu_by_via[vias[0]]:>10.2f}"
                print(f"{name:<18} {via:<7} {cpu / args.requests * 1e6:>12.0f} "
                      f"{wall / args.requests * 1e6:>13.0f} {ratio}")
                if profiler:
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                    print(out.getvalue())
    finally:
        _stop(stub)


if __name__ == "__main__":
    main()
