"""The README's quick start, run as written: `relaygate demo`, then its curl gets a stream."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.envvars import ROOT
from tests.support.processes import embedded_env, relaygate, stop, wait_for_port
from tests.support.servers import free_port


def quick_start_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]  # the steps, before "Use a real provider"
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def printed_until(process: subprocess.Popen, last_line: str) -> str:
    """What the demo printed up to its instructions' last line (it prints them, then serves)."""
    lines = []
    while not lines or lines[-1].rstrip("\n") != last_line:
        line = process.stdout.readline()
        assert line, f"the demo stopped printing: {''.join(lines)}"
        lines.append(line)
    return "".join(lines)


def openai_lines(printed: str, checkout: Path) -> str:
    """The printed openai paragraph, run with the interpreter of these tests standing in for
    the checkout's .venv/bin/python (openai is in requirements-dev.lock)."""
    paragraph = printed.split("With the openai package", 1)[1].split("\n\n", 1)[0]
    venv_python = checkout / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(0o755)
    return paragraph.split("\n", 1)[1]


def test_the_quick_start_gives_a_streamed_answer_on_the_embedded_default(tmp_path):
    serve_block, request_block = quick_start_blocks()
    assert serve_block.strip() == ".venv/bin/relaygate demo"
    port, stub_port = free_port(), free_port()
    env = embedded_env(tmp_path / "instance")
    # The newcomer's folder is the checkout: instance/ is where the demo keeps its key.
    demo = relaygate("demo", "--port", str(port), "--stub-port", str(stub_port), env=env,
                     cwd=tmp_path)
    shown = ""
    try:
        wait_for_port(port, demo)
        request = request_block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        answer = subprocess.run(["bash", "-euo", "pipefail", "-c", request], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        shown = printed_until(demo, "Ctrl-C stops Relaygate and the stub.")
        sdk = subprocess.run(["bash", "-euo", "pipefail", "-c", openai_lines(shown, tmp_path)],
                             cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    finally:
        printed = shown + stop(demo)

    assert answer.returncode == 0, answer.stderr
    chunks = [line for line in answer.stdout.splitlines() if line.startswith("data: {")]
    assert len(chunks) > 3 and '"chat.completion.chunk"' in chunks[0]
    assert answer.stdout.rstrip().endswith("data: [DONE]")
    # The openai lines the demo prints run as pasted, indentation and all.
    assert sdk.returncode == 0, sdk.stderr
    assert len(sdk.stdout.split()) > 3, sdk.stdout
    key = (tmp_path / "instance" / "demo-api-key").read_text().strip()
    assert f"Your API key: {key}" in printed
    assert "Created the admin 'admin'" in printed
    for stopped in (port, stub_port):  # SIGTERM stopped gunicorn and the stub as Ctrl-C would
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", stopped)) != 0
