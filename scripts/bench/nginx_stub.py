"""A near-zero-cost upstream for benchmarks: nginx answering canned OpenAI and Anthropic replies.

POST /v1/chat/completions (or /chat/completions) answers an OpenAI chat completion, and
POST /v1/messages an Anthropic message, each with usage; a request whose JSON body says
`"stream": true` gets the same answer as server-sent events instead (with the usage chunk
OpenAI sends for `stream_options.include_usage`). nginx serves canned text only by path, and
reads a request body only on its way to a proxied upstream: so the public server reads the body,
names its kind in a header (`map` on `$request_body`) and passes the request without its body to
a second server on another loopback port, which answers by path and kind. It starts its own
nginx with its own configuration and prefix in a temporary directory, and removes it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

TEXT = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", "."]
OPENAI_MODEL, CLAUDE_MODEL = "gpt-4o-mini", "claude-haiku-4-5-20251001"
PROMPT_TOKENS, COMPLETION_TOKENS = 9, len(TEXT)


def _sse(events: list[tuple[str | None, object]]) -> str:
    lines = []
    for event, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        lines.append((f"event: {event}\n" if event else "") + f"data: {payload}\n\n")
    return "".join(lines)


def _openai() -> tuple[str, str]:
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
             "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
             "prompt_tokens_details": {"cached_tokens": 0}}
    base = {"id": "chatcmpl-bench", "created": 1764720000, "model": OPENAI_MODEL}
    answer = {**base, "object": "chat.completion", "usage": usage, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "".join(TEXT)},
         "finish_reason": "stop"}]}

    def chunk(delta: dict | None, finish: str | None = None) -> dict:
        choices = [] if delta is None else [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]
        return {**base, "object": "chat.completion.chunk", "choices": choices, "usage": None}

    events: list[tuple[str | None, object]] = [
        (None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": word})) for word in TEXT]
    events += [(None, chunk({}, "stop")), (None, {**chunk(None), "usage": usage}),
               (None, "[DONE]")]
    return json.dumps(answer, separators=(",", ":")), _sse(events)


def _anthropic() -> tuple[str, str]:
    usage = {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS,
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message = {"id": "msg_bench", "type": "message", "role": "assistant",
               "model": CLAUDE_MODEL, "stop_sequence": None}
    answer = {**message, "content": [{"type": "text", "text": "".join(TEXT)}],
              "stop_reason": "end_turn", "usage": usage}
    events: list[tuple[str | None, object]] = [
        ("message_start", {"type": "message_start", "message": {
            **message, "content": [], "stop_reason": None,
            "usage": {**usage, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": word}})
               for word in TEXT]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": COMPLETION_TOKENS}}),
        ("message_stop", {"type": "message_stop"})]
    return json.dumps(answer, separators=(",", ":")), _sse(events)


def _quoted(text: str) -> str:
    """`text` as an nginx single-quoted string (nginx turns \\n back into a newline)."""
    if "$" in text:
        raise ValueError("a canned answer may not hold '$' (nginx would read a variable)")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _configuration(directory: Path, port: int, inner_port: int,
                   stream_seconds: float = 0.0) -> str:
    canned = []
    for protocol, (plain, stream) in (("openai", _openai()), ("anthropic", _anthropic())):
        # limit_rate (bytes/s per connection) spreads a stream over about `stream_seconds`.
        rate = f"limit_rate {max(1, int(len(stream) / stream_seconds))}; " if (
            stream_seconds) else ""
        canned.append(f"location = /canned/{protocol}.json "
                      f"{{ default_type application/json; return 200 {_quoted(plain)}; }}")
        canned.append(f"location = /canned/{protocol}.sse {{ default_type text/event-stream; "
                      f"{rate}return 200 {_quoted(stream)}; }}")
    temp = " ".join(f"{kind}_temp_path {directory / kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
daemon off;
master_process on;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    {temp}
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    map $request_body $stub_kind {{ '~"stream"\\s*:\\s*true' sse; default json; }}
    upstream canned {{ server 127.0.0.1:{inner_port}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        client_body_buffer_size 1m;
        client_body_in_single_buffer on;
        location / {{
            proxy_pass http://canned;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Stub-Kind $stub_kind;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_buffering off;
        }}
    }}
    server {{
        listen 127.0.0.1:{inner_port} backlog=4096;
        location = /v1/chat/completions {{ rewrite ^ /canned/openai.$http_x_stub_kind last; }}
        location = /chat/completions {{ rewrite ^ /canned/openai.$http_x_stub_kind last; }}
        location = /v1/messages {{ rewrite ^ /canned/anthropic.$http_x_stub_kind last; }}
        {chr(10).join("        " + line for line in canned).lstrip()}
    }}
}}
"""


class NginxStub:
    """`start()` answers the base URL (http://127.0.0.1:<port>); `pid` is nginx's master."""

    def __init__(self, port: int, inner_port: int):
        self.port, self.inner_port = port, inner_port
        self.directory = Path(tempfile.mkdtemp(prefix="relaygate-bench-nginx-"))
        self.process: subprocess.Popen | None = None

    @staticmethod
    def binary() -> str | None:
        return shutil.which("nginx") or next(
            (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
             if Path(path).exists()), None)

    def start(self) -> str:
        binary = self.binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install -y nginx)")
        # Run as root, nginx's workers run as nobody: they must reach the directory.
        self.directory.chmod(0o755)
        config = self.directory / "nginx.conf"
        config.write_text(_configuration(self.directory, self.port, self.inner_port))
        self.process = subprocess.Popen(
            [binary, "-p", str(self.directory), "-c", str(config), "-e",
             str(self.directory / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.post(url + "/v1/chat/completions", json={}, timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        log = (self.directory / "error.log").read_text() if (
            self.directory / "error.log").exists() else ""
        self.stop()
        raise RuntimeError(f"nginx did not start: {log[-500:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def slow_streams(self, seconds: float) -> None:
        """From now on each streamed answer takes about `seconds` (0: at once): a new
        configuration, and nginx reloaded (its old workers finish what they hold)."""
        (self.directory / "nginx.conf").write_text(
            _configuration(self.directory, self.port, self.inner_port, seconds))
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
        time.sleep(2)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # nginx: fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)
