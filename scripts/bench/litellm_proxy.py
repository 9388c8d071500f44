"""LiteLLM proxy beside Relaygate for benchmarks: installed from PyPI into a virtual environment
of its own outside the repository, configured to send an OpenAI and an Anthropic model to the
benchmark's upstream stub, with no database (it keeps no books) and request logging off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MASTER_KEY = "sk-relaygate-bench"
OPENAI_MODEL, CLAUDE_MODEL = "gpt-4o-mini", "claude-haiku-4-5"


def install(version: str, home: Path) -> Path | str:
    """The `litellm` executable of litellm[proxy]==version in home/litellm-<version>, installed
    there on first use; or a sentence saying why it cannot be had."""
    venv = home / f"litellm-{version}"
    executable = venv / "bin" / "litellm"
    if executable.exists():
        return executable
    home.mkdir(parents=True, exist_ok=True)
    print(f"installing litellm[proxy]=={version} into {venv} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q",
                        f"litellm[proxy]=={version}"], check=True, timeout=1800,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        stderr = getattr(error, "stderr", b"") or b""
        return f"pip could not install litellm[proxy]=={version}: {stderr.decode()[-300:]}"
    return executable if executable.exists() else f"{executable} missing after install"


def _config(stub_url: str) -> str:
    # YAML is a superset of JSON: no YAML writer needed.
    return json.dumps({
        "model_list": [
            {"model_name": OPENAI_MODEL, "litellm_params": {
                "model": f"openai/{OPENAI_MODEL}", "api_base": f"{stub_url}/v1",
                "api_key": "bench"}},
            {"model_name": CLAUDE_MODEL, "litellm_params": {
                "model": f"anthropic/{CLAUDE_MODEL}", "api_base": stub_url,
                "api_key": "bench"}},
        ],
        "litellm_settings": {"set_verbose": False, "json_logs": False,
                             "request_timeout": 60, "telemetry": False},
        "general_settings": {"master_key": MASTER_KEY, "disable_spend_logs": True,
                             "disable_error_logs": True},
    })


# uvicorn's access log off, as Relaygate's gunicorn access log is off in the benchmark.
_LOGGING = {
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                            "stream": "ext://sys.stderr"}},
    "loggers": {"uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
                "uvicorn.error": {"level": "WARNING"},
                "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False}},
}


class LiteLLMProxy:
    """`start()` answers the base URL; `pid` is the root of its process tree (the CLI and
    uvicorn's workers).

    Under uvicorn, LiteLLM's default server (`--run_gunicorn` writes an access log it cannot
    turn off). uvicorn kills a worker that does not answer its supervisor within
    `--timeout_worker_healthcheck` (5 s by default): on a loaded machine importing litellm takes
    longer, so the timeout is raised."""

    def __init__(self, executable: Path, port: int, workers: int, stub_url: str):
        self.executable, self.port, self.workers = executable, port, workers
        self.directory = Path(tempfile.mkdtemp(prefix="relaygate-bench-litellm-"))
        (self.directory / "config.yaml").write_text(_config(stub_url))
        (self.directory / "logging.json").write_text(json.dumps(_LOGGING))
        self.process: subprocess.Popen | None = None
        self.log = self.directory / "litellm.log"

    def start(self) -> str:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("DATABASE_URL", "REDIS_", "LITELLM_"))}
        env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
                    "LITELLM_TELEMETRY": "False", "DISABLE_ADMIN_UI": "True",
                    "PYTHONUNBUFFERED": "1"})
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(self.executable), "--config", str(self.directory / "config.yaml"),
                 "--host", "127.0.0.1", "--port", str(self.port),
                 "--num_workers", str(self.workers), "--timeout_worker_healthcheck", "600",
                 "--log_config", str(self.directory / "logging.json")],
                env=env, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health/liveliness", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        tail = self.log.read_text(errors="replace")[-800:]
        self.stop()
        raise RuntimeError(f"LiteLLM proxy did not start: {tail}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)
