"""Run the test suite's Redis-backed tests against a private three-master Redis Cluster.

    .venv/bin/python -m scripts.chaos.cluster_suite [pytest arguments]

starts the cluster on free loopback ports, sets RELAYGATE_TEST_REDIS_URL to its
redis+cluster:// URL and runs pytest (by default the PostgreSQL + Redis cases of
tests/integration, tests/ops and tests/api), then stops the cluster and exits with pytest's code.
"""

from __future__ import annotations

import os
import subprocess
import sys

from scripts.chaos.redis_topology import ClusterRedis

DEFAULT = ["tests/integration", "tests/ops", "tests/api", "-k", "postgres or pg_ or fast or redis",
           "-q", "-n", "2", "-p", "no:cacheprovider"]


def main(argv: list[str]) -> int:
    cluster = ClusterRedis().start()
    print(f"cluster: {cluster.url}", flush=True)
    try:
        env = {**os.environ, "RELAYGATE_TEST_REDIS_URL": cluster.url, "CI": "true"}
        return subprocess.call([sys.executable, "-m", "pytest", *(argv or DEFAULT)], env=env)
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
