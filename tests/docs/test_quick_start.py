"""The README's quick start, run as written: `relaygate demo`, then its curl gets a stream."""

from __future__ import annotations

import re
import socket
import subprocess

from tests.support.envvars import ROOT
from tests.support.processes import embedded_env, relaygate, stop, wait_for_port
from tests.support.servers import free_port


def quick_start_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]  # the steps, before "Use a real provider"
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_quick_start_gives_a_streamed_answer_on_the_embedded_default(tmp_path):
    serve_block, request_block = quick_start_blocks()
    assert serve_block.strip() == ".venv/bin/relaygate demo"
    port, stub_port = free_port(), free_port()
    env = embedded_env(tmp_path / "instance")
    # The newcomer's folder is the checkout: instance/ is where the demo keeps its key.
    demo = relaygate("demo", "--port", str(port), "--stub-port", str(stub_port), env=env,
                     cwd=tmp_path)
    try:
        wait_for_port(port, demo)
        request = request_block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        answer = subprocess.run(["bash", "-euo", "pipefail", "-c", request], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
    finally:
        printed = stop(demo)

    assert answer.returncode == 0, answer.stderr
    chunks = [line for line in answer.stdout.splitlines() if line.startswith("data: {")]
    assert len(chunks) > 3 and '"chat.completion.chunk"' in chunks[0]
    assert answer.stdout.rstrip().endswith("data: [DONE]")
    key = (tmp_path / "instance" / "demo-api-key").read_text().strip()
    assert f"Your API key: {key}" in printed
    assert "Created the admin 'admin'" in printed
    for stopped in (port, stub_port):  # SIGTERM stopped gunicorn and the stub as Ctrl-C would
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", stopped)) != 0
