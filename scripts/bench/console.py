"""Benchmark the web console's and the portal's pages on PostgreSQL; prints p50/p99 per page.

Loads 100,000 usage events over the last 30 days across 1,000 keys (COPY, then the rollups
rebuilt, as scripts/bench/stats.py does), signs an admin in through the console's form, then
times each page over the app's WSGI interface (no network): the dashboard for 24 h, 7 d and
30 d, the keys list (first page, a search, a tag filter, a later page), a key's page, the
accounts page, the portal and its JSON route. Creates its own database and drops it (unless
--keep). Redis is off: no page is helped by a cache.

    PYTHONPATH=. python scripts/bench/console.py [--events 100000] [--keys 1000] [--calls 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from app import services_of
from scripts.bench import stats as volume
from scripts.bench.throwaway import throwaway

DAYS = 30


def timed(label: str, calls: int, client, path: str, headers: dict | None = None) -> float:
    def call():
        answer = client.get(path, headers=headers or {})
        assert answer.status_code == 200, (path, answer.status_code)

    call()  # warm the pool and the server's caches
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    median = statistics.median(times)
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    print(f"  {label:<44} p50 {median:7.1f} ms   p99 {p99:7.1f} ms")
    return median


def sign_in(app, services):
    services.admins.create("bench-admin", "bench-password")
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    answer = client.post("/console/login", data={"username": "bench-admin",
                                                 "password": "bench-password",
                                                 "csrf_token": token})
    assert answer.status_code == 302
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    volume.DAYS = DAYS  # the traffic generator spreads its events over this many days
    with throwaway(volume.BASE_URL, None, label="bench_console", keep=options.keep) as place:
        url = place.database_url
        print(f"database {place.name}: {options.events} events, {options.keys} keys, "
              f"{DAYS} days")
        app = place.app()
        services = services_of(app)
        key_ids = [services.keys.create({"name": f"bench-{i:04d}",
                                         "tags": ["bench", f"team-{i % 10}"],
                                         "token_limit": 10**9}).id
                   for i in range(options.keys)]
        plaintext = services.keys.create({"name": "portal-holder"}).api_key
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(days=DAYS)
        services.usage.prepare_partitions(start, now)
        volume.load(url, volume.Traffic(key_ids, start, options.events))
        services.usage.rebuild_rollups(start, now + timedelta(hours=1))
        volume.vacuum(url)
        client = sign_in(app, services)
        busiest = key_ids[0]  # the generator weighs keys by 1/sqrt(rank): the first is busiest
        print("pages (median and p99 of each, after one warm-up call)")
        medians = [
            timed("GET /console/ (24h)", options.calls, client, "/console/?period=24h"),
            timed("GET /console/?period=7d", options.calls, client, "/console/?period=7d"),
            timed("GET /console/?period=30d", options.calls, client, "/console/?period=30d"),
            timed("GET /console/keys", options.calls, client, "/console/keys"),
            timed("GET /console/keys?q=bench-09", options.calls, client,
                  "/console/keys?q=bench-09"),
            timed("GET /console/keys?tag=team-3&sort=cost", options.calls, client,
                  "/console/keys?tag=team-3&sort=cost"),
            timed("GET /console/keys?page=30", options.calls, client, "/console/keys?page=30"),
            timed("GET /console/keys/<busiest key>", options.calls, client,
                  f"/console/keys/{busiest}"),
            timed("GET /console/keys/<busiest key>?period=24h", options.calls, client,
                  f"/console/keys/{busiest}?period=24h"),
            timed("GET /console/accounts", options.calls, client, "/console/accounts"),
            timed("GET /console/catalogue", options.calls, client, "/console/catalogue"),
            timed("GET /console/usage (7 days by day)", options.calls, client,
                  "/console/usage"),
            timed("GET /console/usage 30 days by day, by model", options.calls, client,
                  f"/console/usage?from={(now - timedelta(days=29)).date()}&groupBy=model"),
            timed("GET /console/usage 7 days by hour, one key", options.calls, client,
                  f"/console/usage?granularity=hour&apiKeyId={busiest}"),
            timed("GET /console/operations", options.calls, client, "/console/operations"),
            timed("GET /portal/", options.calls, client, "/portal/"),
            timed("GET /api/keys/me/usage (portal data)", options.calls, app.test_client(),
                  "/api/keys/me/usage", {"x-api-key": plaintext}),
        ]
        print(f"slowest median: {max(medians):.1f} ms")


if __name__ == "__main__":
    main()
