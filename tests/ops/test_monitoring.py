"""Performance metrics and query statistics reflect what the test did, on both backends."""

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from app import services_of
from tests.support.apps import login_headers, make_app


@pytest.fixture
def app_config(app_config):
    return {**app_config, "metrics_flush_seconds": 0, "slow_query_ms": 0}


def metrics(client, headers, time_range="5m"):
    response = client.get(f"/api/admin/metrics?timeRange={time_range}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_metrics_count_the_queries_errors_and_pool_use_of_the_test(client, admin_headers):
    before = metrics(client, admin_headers)
    for _ in range(3):
        created = client.post("/api/keys", json={"name": "m"}, headers=admin_headers)
        assert created.status_code == 201
        assert client.get("/api/keys/missing", headers=admin_headers).status_code == 404
    assert client.post("/api/keys", json={"name": ""}, headers=admin_headers).status_code == 422
    after = metrics(client, admin_headers)
    database = after["database"]
    assert database["queryCount"] >= before["database"]["queryCount"] + 6
    assert database["avgQueryTime"] > 0
    assert database["slowQueries"] == database["queryCount"]  # the threshold is 0 ms here
    assert 0 < database["connectionPool"]["utilization"] <= 1
    assert database["connectionPool"]["waitTime"] >= 0
    errors = after["errors"]
    assert errors["types"]["DB_RECORD_NOT_FOUND"] == 3
    assert errors["types"]["VALIDATION_ERROR"] == 1
    assert errors["count"] - before["errors"]["count"] == 4
    assert 0 < errors["rate"] < 1
    assert after["timeRange"] == "5m" and after["from"] < after["to"]


def test_a_refusal_in_googles_shape_is_counted_under_our_code(client, admin_headers):
    key = client.post("/api/keys", json={"name": "g"}, headers=admin_headers).json["data"]
    before = metrics(client, admin_headers)["errors"]["types"]
    refused = client.post("/v1beta/models/no-such-model:generateContent",
                          json={"contents": [{"parts": [{"text": "hi"}]}]},
                          headers={"x-goog-api-key": key["apiKey"]})
    assert refused.status_code == 404 and refused.json["error"]["code"] == 404
    types = metrics(client, admin_headers)["errors"]["types"]
    assert types["MODEL_NOT_FOUND"] - before.get("MODEL_NOT_FOUND", 0) == 1
    assert "404" not in types


def test_every_time_range_answers_and_others_are_refused(client, admin_headers):
    for time_range in ("5m", "1h", "24h", "7d"):
        assert metrics(client, admin_headers, time_range)["database"]["queryCount"] > 0
    bad = client.get("/api/admin/metrics?timeRange=2w", headers=admin_headers)
    assert bad.status_code == 422 and "timeRange" in bad.json["error"]["details"]


def test_query_stats_list_normalised_statements_made_in_the_test(client, admin_headers):
    for name in ("alpha", "beta", "gamma"):
        client.post("/api/keys", json={"name": name}, headers=admin_headers)
    response = client.get("/api/admin/query-stats?limit=100", headers=admin_headers)
    data = response.json["data"]
    inserts = [q for q in data["frequentQueries"] if q["query"].startswith("INSERT INTO api_keys")]
    assert len(inserts) == 1 and inserts[0]["callCount"] == 3
    assert "alpha" not in inserts[0]["query"] and "?" in inserts[0]["query"]
    slow = next(q for q in data["slowQueries"] if q["query"] == inserts[0]["query"])
    assert slow["callCount"] == 3 and slow["avgDuration"] > 0 and slow["lastExecuted"]
    assert len(client.get("/api/admin/query-stats?limit=2",
                          headers=admin_headers).json["data"]["slowQueries"]) == 2


def test_metrics_are_summed_over_workers(app_config, tmp_path):
    worker_a = make_app(tmp_path, **app_config)
    worker_b = make_app(tmp_path, **app_config)
    headers = login_headers(worker_a)
    a, b = worker_a.test_client(), worker_b.test_client()
    before = metrics(a, headers)["errors"]["types"].get("NOT_FOUND", 0)
    for _ in range(2):
        a.get("/api/admin/storage/nothing", headers=headers)
        b.get("/api/admin/storage/nothing", headers=headers)
    assert metrics(a, headers)["errors"]["types"]["NOT_FOUND"] - before == 4
    for app in (worker_a, worker_b):
        services_of(app).engine.dispose()


def test_cache_hits_and_misses_come_from_the_read_through_cache(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "cached"})
    for _ in range(4):
        services.keys.authenticate(key.api_key)
    cache = services.monitoring.performance_metrics("5m")["cache"]
    assert cache["misses"] == 1 and cache["hits"] == 3
    assert cache["hit_rate"] == 0.75 and cache["miss_rate"] == 0.25


def test_evictions_come_from_redis(postgres_url, private_redis, tmp_path):
    client = redis.Redis.from_url(private_redis.url)
    used = client.info("memory")["used_memory"]
    client.config_set("maxmemory", used + 512 * 1024)
    client.config_set("maxmemory-policy", "volatile-ttl")  # short-lived filler goes first
    app = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:evict:")
    monitoring = services_of(app).monitoring
    monitoring.collector.add("http.requests")
    monitoring.flush()
    filler = client.pipeline(transaction=False)
    for number in range(3000):
        filler.set(f"filler:{number}", b"x" * 1024, ex=60)
    filler.execute()
    cache = monitoring.performance_metrics("5m")["cache"]
    assert cache["evictions"] > 0 and cache["eviction_rate"] > 0
    services_of(app).engine.dispose()


def test_prometheus_metrics_parse_and_count_requests_by_route_and_status(client, admin_headers):
    client.get("/api/keys", headers=admin_headers)
    client.get("/api/keys/none", headers=admin_headers)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(True))}
    requests = {(s.labels["route"], s.labels["status"]): s.value
                for s in families["relaygate_http_requests"].samples
                if s.name == "relaygate_http_requests_total"}
    assert requests[("/api/keys", "200")] >= 1 and requests[("/api/keys/<key_id>", "404")] >= 1
    for name in ("relaygate_http_request_duration_seconds", "relaygate_db_pool_connections",
                 "relaygate_cache_hits", "relaygate_tokens", "relaygate_cost_usd",
                 "relaygate_upstream_request_duration_seconds"):
        assert name in families, name


def test_prometheus_metrics_can_require_a_token(app_config, tmp_path):
    app = make_app(tmp_path, **app_config, metrics_token="scrape-me")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
    services_of(app).engine.dispose()


def test_figures_wait_while_redis_is_down_and_are_flushed_when_it_returns(postgres_url,
                                                                          private_redis, tmp_path):
    app = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:down:",
                   metrics_flush_seconds=0)
    services = services_of(app)
    headers = login_headers(app)
    client = app.test_client()
    private_redis.stop()
    for _ in range(3):  # answered from the database, the figures kept in the process
        assert client.get("/api/admin/storage/apikey", headers=headers).status_code == 200
    down = client.get("/api/admin/metrics?timeRange=5m", headers=headers)
    assert down.status_code == 503 and down.json["error"]["code"] == "METRICS_UNAVAILABLE"
    private_redis.start()
    services.cache.redis.retry_now()  # skip the back-off instead of waiting it out
    requests = services.monitoring.performance_metrics("5m")["errors"]["requests"]
    assert requests >= 4
    services.engine.dispose()
