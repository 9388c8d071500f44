"""gunicorn settings; each can be overridden from the environment."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

bind = os.environ.get("RELAYGATE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("RELAYGATE_WORKERS", "2"))
# Threads let one worker hold many slow upstream streams without blocking the others. Our
# gthread reads request headers in the event loop and puts deadlines on request reads, so slow
# or idle clients cannot hold the threads (RELAYGATE_HEADER_TIMEOUT, RELAYGATE_BODY_TIMEOUT,
# RELAYGATE_MAX_CONNECTIONS_PER_ADDRESS, RELAYGATE_TRUSTED_PROXIES; see app/serving/worker.py).
worker_class = os.environ.get("RELAYGATE_WORKER_CLASS", "app.serving.worker.GuardedThreadWorker")
threads = int(os.environ.get("RELAYGATE_THREADS", "256"))
timeout = int(os.environ.get("RELAYGATE_TIMEOUT", "300"))
graceful_timeout = int(os.environ.get("RELAYGATE_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# The longest request line (method, URL, version) gunicorn accepts, answering 414 in HTML past it;
# 0 lifts the limit so the app answers every URL itself (scripts/fuzz_openapi.py does).
limit_request_line = int(os.environ.get("RELAYGATE_LIMIT_REQUEST_LINE", "4094"))
accesslog = os.environ.get("RELAYGATE_ACCESS_LOG", "-") or None
# Its lines name the request's URL: a key sent as `?key=` (Gemini's clients) is redacted there.
logger_class = "app.serving.logs.RedactingLogger"

# Prometheus: every worker writes its metrics to files in one directory and a scrape of any
# worker sums them. Set before the workers import the app; a directory we made is ours to remove.
_made_prometheus_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_prometheus_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="relaygate-prometheus-")


# With Redis, chat-fast (and the `usage` write_behind strategy) queue usage records: the master
# runs `drain-usage` workers beside the app so they reach the database (RELAYGATE_DRAIN_USAGE of
# them, 2 by default: they share the stream's consumer group, so a second one takes its share
# of the backlog when the app keeps one core busy), and starts each again whenever it exits (a
# thread of the master watches them). Set RELAYGATE_DRAIN_USAGE=0 to run them elsewhere.
_drains: list[subprocess.Popen] = []
_drain_lock = threading.Lock()
_drain_stopping = threading.Event()
# Seconds before a restart: at once after a long run, longer each time it exits soon after one.
_DRAIN_RESTART_DELAYS = (0, 1, 2, 5, 10, 30)


def _drain_count() -> int:
    value = os.environ.get("RELAYGATE_DRAIN_USAGE", "2").strip() or "2"
    try:
        count = int(value)
    except ValueError:
        raise SystemExit(f"RELAYGATE_DRAIN_USAGE must be a number of drain workers (0 for none), "
                         f"not {value!r}") from None
    if count < 0:
        raise SystemExit("RELAYGATE_DRAIN_USAGE must be 0 or more")
    return count


def on_starting(server):
    # Files of a previous run would be summed into this one's counters.
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def when_ready(server):
    count = _drain_count() if os.environ.get("REDIS_URL") else 0
    for slot in range(count):
        with _drain_lock:
            _drains.append(_start_drain())
        threading.Thread(target=_supervise_drain, args=(server, slot),
                         name=f"drain-supervisor-{slot}", daemon=True).start()


def _start_drain() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "drain-usage"],
                            cwd=os.path.dirname(os.path.abspath(__file__)))


def _supervise_drain(server, slot: int):
    """Start drain `slot` again when it exits while the master serves. The master's own SIGCHLD
    handler may reap it first; Popen.poll() then answers 0 (its status is lost, not its end)."""
    quick_exits, started = 0, time.monotonic()
    while not _drain_stopping.wait(0.5):
        with _drain_lock:
            drain = _drains[slot]
            if _drain_stopping.is_set() or not server.LISTENERS or drain.poll() is None:
                continue
            quick_exits = quick_exits + 1 if time.monotonic() - started < 60 else 0
            delay = _DRAIN_RESTART_DELAYS[min(quick_exits, len(_DRAIN_RESTART_DELAYS) - 1)]
            server.log.error("drain-usage (pid %s) stopped; starting it again in %s s",
                             drain.pid, delay)
        if _drain_stopping.wait(delay):
            return
        with _drain_lock:
            if not _drain_stopping.is_set():
                _drains[slot], started = _start_drain(), time.monotonic()


# On SIGTERM a worker lets open streams finish for graceful_timeout; this many seconds before it
# would be killed, it cuts those still open, each billed what it relayed.
_STREAM_CUT_MARGIN = 3


def _services(worker):
    """The worker's app's Services (app.bootstrap's extension), None if it has none."""
    return getattr(worker.wsgi, "extensions", {}).get("relaygate")


def post_worker_init(worker):
    # The app is loaded: what it keeps leaves the garbage collector's sight (app/collector.py).
    services = _services(worker)
    if services is not None:
        from app import collector

        collector.settle(services.settings.gc_threshold)
    previous = signal.getsignal(signal.SIGTERM)
    cut_once = threading.Event()

    def stopping(signum, frame):
        if not cut_once.is_set():
            cut_once.set()
            timer = threading.Timer(max(0.0, worker.cfg.graceful_timeout - _STREAM_CUT_MARGIN),
                                    _cut_open_streams, args=(worker,))
            timer.daemon = True
            timer.start()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, stopping)


def _cut_open_streams(worker):
    services = _services(worker)
    if services is not None:
        cut = services.chat.cut_open_streams()
        if cut:
            worker.log.warning("graceful timeout near: cut %s open streams", cut)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    _drain_stopping.set()
    with _drain_lock:
        running = [drain for drain in _drains if drain.poll() is None]
        # Each stores what is waiting, then stops (drain-usage on SIGTERM).
        for drain in running:
            drain.terminate()
        for drain in running:
            try:
                drain.wait(30)
            except subprocess.TimeoutExpired:
                drain.kill()
    if _made_prometheus_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
