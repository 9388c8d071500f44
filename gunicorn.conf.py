"""gunicorn settings; each can be overridden from the environment."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

bind = os.environ.get("RELAYGATE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("RELAYGATE_WORKERS", "2"))
# Threads let one worker hold many slow upstream streams without blocking the others.
worker_class = os.environ.get("RELAYGATE_WORKER_CLASS", "gthread")
threads = int(os.environ.get("RELAYGATE_THREADS", "256"))
timeout = int(os.environ.get("RELAYGATE_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
# The longest request line (method, URL, version) gunicorn accepts, answering 414 in HTML past it;
# 0 lifts the limit so the app answers every URL itself (scripts/fuzz_openapi.py does).
limit_request_line = int(os.environ.get("RELAYGATE_LIMIT_REQUEST_LINE", "4094"))
accesslog = os.environ.get("RELAYGATE_ACCESS_LOG", "-") or None

# Prometheus: every worker writes its metrics to files in one directory and a scrape of any
# worker sums them. Set before the workers import the app; a directory we made is ours to remove.
_made_prometheus_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_prometheus_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="relaygate-prometheus-")


# With Redis, chat-fast (and the `usage` write_behind strategy) queue usage records: the master
# runs one `drain-usage` worker beside the app so they reach the database. Set
# RELAYGATE_DRAIN_USAGE=0 to run the workers elsewhere instead.
_drain: subprocess.Popen | None = None


def on_starting(server):
    # Files of a previous run would be summed into this one's counters.
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def when_ready(server):
    global _drain
    if os.environ.get("REDIS_URL") and os.environ.get("RELAYGATE_DRAIN_USAGE", "1") != "0":
        _drain = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi",
                                   "drain-usage"], cwd=os.path.dirname(os.path.abspath(__file__)))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _drain is not None:
        _drain.terminate()
        _drain.wait(30)
    if _made_prometheus_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
