"""gunicorn settings; each can be overridden from the environment."""

import os

bind = os.environ.get("RELAYGATE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("RELAYGATE_WORKERS", "2"))
# Threads let one worker hold many slow upstream streams without blocking the others.
worker_class = os.environ.get("RELAYGATE_WORKER_CLASS", "gthread")
threads = int(os.environ.get("RELAYGATE_THREADS", "32"))
timeout = int(os.environ.get("RELAYGATE_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("RELAYGATE_ACCESS_LOG", "-") or None
