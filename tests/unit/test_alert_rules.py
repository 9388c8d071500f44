"""Alert rules: metric paths, comparisons, state steps, and which webhook URLs are allowed."""

from datetime import UTC, datetime, timedelta

import pytest

from app.services.alerts import rules
from app.services.alerts.webhooks import WebhookRefused, check_url, signature

NOW = datetime(2030, 1, 1, tzinfo=UTC)
METRICS = {"errors": {"rate": 0.25, "types": {"NOT_FOUND": 3}},
           "cache": {"hit_rate": None}, "database": {"connection_pool": {"utilization": 0.5}}}


def test_metric_paths_resolve_to_numbers_and_unseen_error_codes_count_zero():
    assert rules.value_of(METRICS, "errors.rate") == 0.25
    assert rules.value_of(METRICS, "database.connectionPool.utilization") == 0.5
    assert rules.value_of(METRICS, "errors.types.NOT_FOUND") == 3
    assert rules.value_of(METRICS, "errors.types.GONE") == 0
    assert rules.value_of(METRICS, "cache.hitRate") is None
    assert rules.is_metric("errors.types.DB_QUERY_TIMEOUT") and not rules.is_metric("errors.x")


def test_nothing_measured_never_holds():
    assert not rules.holds(None, "<", 0.5)
    assert rules.holds(0.5, ">=", 0.5) and not rules.holds(0.5, ">", 0.5)


def test_an_alert_fires_only_after_holding_for_its_duration_and_resolves_once():
    state, since, event = rules.step("ok", None, True, 60, NOW)
    assert (state, since, event) == ("pending", NOW, None)
    later = NOW + timedelta(seconds=59)
    assert rules.step(state, since, True, 60, later) == ("pending", NOW, None)
    fired = rules.step(state, since, True, 60, NOW + timedelta(seconds=60))
    assert fired == ("firing", NOW, "fired")
    assert rules.step("firing", NOW, True, 60, NOW + timedelta(seconds=90))[2] is None
    assert rules.step("firing", NOW, False, 60, NOW + timedelta(seconds=95)) == (
        "ok", None, "resolved")
    assert rules.step("pending", NOW, False, 60, later) == ("ok", None, None)


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///nohost", "http://127.0.0.1/",
                                 "http://10.0.0.1/", "http://[fd00::1]/", "http://100.64.0.1/",
                                 "http://224.0.0.1/", "http://[::ffff:127.0.0.1]/"])
def test_webhooks_to_private_addresses_or_other_schemes_are_refused(url):
    with pytest.raises(WebhookRefused):
        check_url(url, allow_private=False)


def test_public_addresses_and_allowed_private_ones_pass():
    assert check_url("https://8.8.8.8/hook", allow_private=False) == ["8.8.8.8"]
    assert check_url("http://127.0.0.1:8080/x", allow_private=True) == ["127.0.0.1"]


def test_the_signature_covers_the_timestamp_and_the_body():
    first = signature("s", 100, b"{}")
    assert first.startswith("sha256=") and first != signature("s", 101, b"{}")
    assert first != signature("s", 100, b"{ }") and first != signature("t", 100, b"{}")
