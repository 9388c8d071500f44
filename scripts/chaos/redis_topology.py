"""Private Redis topologies on loopback for tests and the chaos script: a master with a replica
watched by three sentinels, and a three-master cluster. Each server runs in a temporary
directory of its own; nothing here touches a Redis it did not start."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

MASTER_NAME = "relaygate"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def _wait(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RedisNode:
    """One redis-server (or sentinel) process; `restart` keeps its port and its files."""

    def __init__(self, workdir: Path, *, port: int | None = None, config: str = "",
                 sentinel: bool = False):
        self.port = port or free_port()
        self.dir = workdir / str(self.port)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / ("sentinel.conf" if sentinel else "redis.conf")
        self.config.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                               f"protected-mode no\ndaemonize no\n"
                               f"logfile {self.dir / 'log'}\n{config}")
        self.sentinel = sentinel
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                           socket_connect_timeout=2, **kwargs)

    def start(self) -> RedisNode:
        command = [shutil.which("redis-server") or "redis-server", str(self.config)]
        if self.sentinel:
            command.append("--sentinel")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        client = self.client()
        try:
            _wait(lambda: client.ping(), f"redis on {self.port}")
        except RuntimeError:
            self.kill()
            raise
        finally:
            client.close()
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


class SentinelRedis:
    """A master (AOF, appendfsync everysec) and its replica, watched by three sentinels."""

    def __init__(self, *, down_after_ms: int = 1000):
        self.workdir = Path(tempfile.mkdtemp(prefix="rg-sentinel-"))
        persistence = "appendonly yes\nappendfsync everysec\nsave \"\"\n"
        self.master = RedisNode(self.workdir, config=persistence)
        self.replica = RedisNode(self.workdir, config=persistence
                                 + f"replicaof 127.0.0.1 {self.master.port}\n")
        self.sentinels = [RedisNode(self.workdir, sentinel=True, config=(
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n")) for _ in range(3)]

    @property
    def url(self) -> str:
        return ("redis+sentinel://" + ",".join(s.address for s in self.sentinels)
                + f"/{MASTER_NAME}/0")

    def start(self) -> SentinelRedis:
        self.master.start()
        self.replica.start()
        _wait(lambda: self.replica.client().info("replication")["master_link_status"] == "up",
              "the replica's link")
        for sentinel in self.sentinels:
            sentinel.start()
        _wait(lambda: all(int(s.client().sentinel_master(MASTER_NAME)["num-other-sentinels"])
                          == 2 for s in self.sentinels), "the sentinels to see each other")
        return self

    def master_port(self) -> int:
        host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def node(self, port: int) -> RedisNode:
        return self.master if self.master.port == port else self.replica

    def fail_over(self) -> tuple[int, int]:
        """SENTINEL FAILOVER; waits until the old replica is the master. (old, new) ports."""
        old = self.master_port()
        self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        _wait(lambda: self.master_port() != old, "the failover", timeout=30)
        new = self.master_port()
        _wait(lambda: self.node(new).client().info("replication")["role"] == "master",
              "the new master's role")
        return old, new

    def restart_master(self) -> int:
        """SIGKILL the current master and start it again on its port (it reloads its AOF)."""
        node = self.node(self.master_port())
        node.restart()
        return node.port

    def stop(self) -> None:
        for node in [*self.sentinels, self.replica, self.master]:
            node.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ClusterRedis:
    """Three masters, no replicas, every slot assigned."""

    def __init__(self, masters: int = 3):
        self.workdir = Path(tempfile.mkdtemp(prefix="rg-cluster-"))
        self.nodes = [RedisNode(self.workdir, port=cluster_port(), config=(
            "cluster-enabled yes\ncluster-config-file nodes.conf\n"
            "cluster-node-timeout 5000\nappendonly no\nsave \"\"\n")) for _ in range(masters)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    def start(self) -> ClusterRedis:
        for node in self.nodes:
            node.start()
        subprocess.run([shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
                        *[node.address for node in self.nodes], "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        _wait(lambda: all(b"cluster_state:ok" in node.client().execute_command("CLUSTER", "INFO")
                          for node in self.nodes), "the cluster to be ok")
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
