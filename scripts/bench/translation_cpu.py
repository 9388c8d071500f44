"""CPU per request of the translated client-protocol paths beside passthrough, in-process.

    python scripts/bench/translation_cpu.py            # --requests 300

The app runs on a throwaway PostgreSQL database and a Redis key prefix (chat-fast's warm path,
as in production) with the stub upstream in a thread of its own. Each request is served by the
Flask test client in this thread and timed with `time.thread_time()`, so the number is this
thread's CPU for the whole request (checks, Redis and SQL client work, the upstream HTTP
client, relaying or translating the answer) and never the stub's. Cases are interleaved, one
request each in turn, so drift in the shared machine's load falls on all alike. Prints the
median and p90 per case and what translation adds at the median (a Gemini account's beside
the passthrough of the same client route). Then the translation's own work alone, without the
noise of the rest: the request translated and a 16-token stream of the stub's events
rewritten, timed per request over many runs.
The Responses API (Codex's shape) on an OpenAI-compatible account without
`supportsResponses` is translated to chat completions and measured beside OpenAI's own chat
completions on the same account.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.providers.base import StreamEvent  # noqa: E402
from app.services.chat.translation import TranslatedFormat, translate_request  # noqa: E402
from scripts.bench.throwaway import throwaway  # noqa: E402
from scripts.stub_upstream import (  # noqa: E402
    AnthropicReply,
    GeminiReply,
    OpenAIReply,
    StubUpstream,
)
from tests.support.apps import login_headers  # noqa: E402

CLAUDE, GPT, GEMINI = "claude/claude-haiku-4-5", "openai/gpt-4o-mini", "gemini/gemini-2.5-flash"
ASK = [{"role": "user", "content": "benchmark me"}]
# (name, route, model, whether the client's format differs from the provider's)
CASES = [("anthropic -> claude", "/v1/messages", CLAUDE, False),
         ("openai -> claude", "/v1/chat/completions", CLAUDE, True),
         ("openai -> openai", "/v1/chat/completions", GPT, False),
         ("anthropic -> openai", "/v1/messages", GPT, True),
         ("openai -> gemini", "/v1/chat/completions", GEMINI, True),
         ("anthropic -> gemini", "/v1/messages", GEMINI, True),
         ("responses -> openai", "/v1/responses", GPT, True)]
# translated case -> the passthrough case of the same client route it is compared with
BESIDE = [("openai -> claude", "anthropic -> claude"), ("anthropic -> openai", "openai -> openai"),
          ("openai -> gemini", "openai -> openai"), ("anthropic -> gemini", "anthropic -> claude"),
          ("responses -> openai", "openai -> openai")]


def _body(route: str, model: str, stream: bool) -> dict:
    if route == "/v1/responses":  # Codex's shape, translated to chat completions
        return {"model": model, "input": ASK[0]["content"], "max_output_tokens": 16,
                "store": False, "stream": stream}
    return {"model": model, "messages": ASK, "max_tokens": 16, "stream": stream}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=300)
    return parser.parse_args()


def _one(client, route: str, body: dict, headers: dict) -> float:
    started = time.thread_time()
    response = client.post(route, json=body, headers=headers)
    data = response.get_data()  # a stream is read to its end
    spent = time.thread_time() - started
    assert response.status_code == 200, data[:300]
    return spent


def main() -> None:
    args = _arguments()
    with (throwaway(args.database_url, args.redis_url, label="cpubench") as place,
          StubUpstream(tokens=16) as stub):
        app = place.app(argon2_time_cost=1, argon2_memory_kib=64)
        client, admin_headers = app.test_client(), login_headers(app)
        for provider, base in (("claude", stub.url), ("openai", stub.url + "/v1"),
                               ("gemini", stub.url)):
            client.post("/api/accounts", headers=admin_headers, json={
                "name": provider, "provider": provider, "apiKey": "bench", "baseUrl": base})
        for plan in ("free", "premium"):
            for tier in ("basic", "premium"):
                client.put(f"/api/plans/{plan}/{tier}", headers=admin_headers,
                           json={"limit": 1_000_000_000, "period": "day"})
        key = client.post("/api/keys", headers=admin_headers, json={"name": "bench"})
        headers = {"x-api-key": key.json["data"]["apiKey"]}
        spent: dict[tuple, list[float]] = {}
        for round_ in range(args.requests + 30):  # the first 30 warm caches and pools
            for case_name, route, model, _ in CASES:
                for stream in (False, True):
                    body = _body(route, model, stream)
                    took = _one(client, route, body, headers)
                    if round_ >= 30:
                        spent.setdefault((case_name, stream), []).append(took)
    print(f"CPU per request (this thread, ms), {args.requests} requests per case, 16-token "
          "answers from the stub")
    print(f"{'case':<22}{'stream':>7}{'p50':>8}{'p90':>8}")
    for (case_name, stream), values in spent.items():
        print(f"{case_name:<22}{str(stream):>7}{statistics.median(values) * 1000:>8.2f}"
              f"{statistics.quantiles(values, n=10)[-1] * 1000:>8.2f}")
    for stream in (False, True):
        for translated, native in BESIDE:
            added = (statistics.median(spent[(translated, stream)])
                     - statistics.median(spent[(native, stream)])) * 1000
            print(f"  {translated} adds {added:+.2f} ms at the median over {native} "
                  f"(stream={stream})")
    _translation_alone()


def _translation_alone(runs: int = 3000) -> None:
    """The translation's CPU per request: the body, then each of the stub's stream events."""
    import json

    for protocol, provider, reply_class in (("openai", "claude", AnthropicReply),
                                            ("anthropic", "openai", OpenAIReply),
                                            ("openai", "gemini", GeminiReply),
                                            ("anthropic", "gemini", GeminiReply),
                                            ("responses", "openai", OpenAIReply)):
        body = _body("/v1/responses" if protocol == "responses" else "", "m", True)
        upstream_body = translate_request(protocol, provider, body)[0]
        reply = reply_class("m", upstream_body, {}, 16)
        events = [*reply.opening(), *(e for i in range(16) for e in reply.token_events(i)),
                  *reply.closing()]
        events = [StreamEvent(data if isinstance(data, str) else json.dumps(data), name)
                  for name, data in events]
        times = []
        for _ in range(runs):
            started = time.thread_time()
            _, translation = translate_request(protocol, provider, body)
            form = TranslatedFormat(translation)
            for event in events:
                form.event(event)
            form.closing()
            times.append(time.thread_time() - started)
        print(f"translation alone, {protocol} client on {provider}, {len(events)} events: "
              f"p50 {statistics.median(times) * 1000:.3f} ms, "
              f"p90 {statistics.quantiles(times, n=10)[-1] * 1000:.3f} ms")


if __name__ == "__main__":
    main()
