"""Imported CRS keys: every field mapped, and a client's `cr_...` key keeps working."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app import services_of
from tests.support.apps import make_app
from tests.support.quota import check

from .crs_fixture import CRS_LIMITED_KEYS
from .importing import run_import


@pytest.fixture
def imported(app, crs_redis, crs_store):
    report = run_import(app, crs_redis, crs_store.encryption_key,
                        phases=("keys",))
    assert report.ok, "\n".join(report.lines())
    return report


def _key(services, store, label):
    with services.uow() as uow:
        return uow.api_keys.get(store.key_ids[label])


def _headers(store, label) -> dict:
    return {"x-api-key": store.plaintext_keys[label]}


def test_an_imported_cr_key_authenticates_against_the_usage_check(client, crs_store, imported):
    response = check(client, _headers(crs_store, "team"), "GPT-4o")

    assert response.status_code == 200, response.json
    assert response.json["data"]["canProceed"] is True


def test_an_imported_key_works_as_a_bearer_token_too(client, crs_store, imported):
    token = crs_store.plaintext_keys["legacy_all"]
    response = check(client, {"Authorization": f"Bearer {token}"}, "GPT-4o")

    assert response.status_code == 200


def test_a_deleted_or_unknown_cr_key_is_refused(client, crs_store, imported):
    deleted = check(client, _headers(crs_store, "deleted"), "GPT-4o")
    unknown = check(client, {"x-api-key": "cr_" + "0" * 64}, "GPT-4o")

    assert deleted.status_code == unknown.status_code == 401
    assert deleted.json["error"]["code"] == unknown.json["error"]["code"] == "INVALID_API_KEY"


def test_a_cr_key_is_refused_before_the_import(client, crs_store):
    response = check(client, _headers(crs_store, "team"), "GPT-4o")

    assert response.status_code == 401


def test_relaygate_keys_keep_working_beside_imported_ones(client, make_key, imported):
    ours = make_key()

    assert check(client, {"x-api-key": ours["apiKey"]}, "GPT-4o").status_code == 200


def test_the_stored_hash_is_the_sources_and_no_plaintext_is_kept(services, crs_store, imported,
                                                                  crs_redis):
    team = _key(services, crs_store, "team")

    assert team.hashed_key == crs_redis.hget(f"apikey:{team.id}", "apiKey")
    assert team.hash_scheme == "crs_sha256"
    with services.uow() as uow:
        rows = uow.key_hash_peppers.list_for("crs_sha256")
    assert len(rows) == 1 and crs_store.encryption_key not in rows[0].secret_sealed


def test_every_key_field_maps_to_the_key_model(services, crs_store, imported):
    team = _key(services, crs_store, "team")

    assert (team.name, team.description) == ("team key", "the team key")
    assert team.permissions == "claude,openai"
    assert team.tags == ["crs-user:alice", "prod", "team-a"]
    assert (team.token_limit, team.concurrency_limit) == (1_000_000, 5)
    assert team.daily_cost_limit == Decimal(10)
    assert team.requests_per_minute is None  # a 60-minute window is not a per-minute limit
    assert team.user_id is None
    assert (team.is_active, team.is_deleted, team.expires_at) == (True, False, None)
    assert team.created_at == datetime(2026, 10, 1, 8, tzinfo=UTC)
    assert team.last_used_at == datetime(2026, 11, 22, 21, 40, tzinfo=UTC)


def test_spend_and_window_limits_and_the_sources_time_zone_carry_over(services, crs_store,
                                                                     imported):
    team = _key(services, crs_store, "team")
    total = _key(services, crs_store, "total_capped")
    weekly = _key(services, crs_store, "weekly_capped")
    windowed = _key(services, crs_store, "cost_windowed")

    assert team.window_limits == [{"window": 60, "requests": 100, "tokens": 1_000_000}]
    assert (team.weekly_cost_limit, team.weekly_cost_models) == (Decimal("25.5"), "claude-*")
    assert (team.weekly_reset_day, team.weekly_reset_hour) == (1, 0)
    assert total.total_cost_limit == Decimal(1) and total.window_limits is None
    assert (weekly.weekly_cost_limit, weekly.weekly_reset_day, weekly.weekly_reset_hour) == (
        Decimal(1), 3, 9)
    assert windowed.window_limits == [{"window": 300, "cost": "0.00002"}]
    assert {team.time_zone, total.time_zone, weekly.time_zone} == {"+08:00"}


def test_the_verification_finds_every_keys_limits_as_the_source_enforces_them(imported):
    check = next(c for c in imported.counts if c.entity.strip() == "limits as in the source")

    assert check.ok and check.source == 6 + len(CRS_LIMITED_KEYS) - 1  # the deleted one aside
    assert not [w for w in imported.warnings if "limits differ" in w]


def test_the_verification_names_a_key_whose_limits_differ_from_the_source(
        app, services, crs_redis, crs_store, imported):
    services.keys.update(crs_store.key_ids["total_capped"], {"total_cost_limit": Decimal(5)})

    again = run_import(app, crs_redis, crs_store.encryption_key, phases=("keys",))

    assert not again.ok
    assert any(crs_store.key_ids["total_capped"] in w and "totalCost" in w
               for w in again.warnings)


def test_legacy_permission_forms_become_our_permissions(services, crs_store, imported):
    got = {label: _key(services, crs_store, label).permissions
           for label in ("legacy_all", "legacy_comma", "legacy_single", "deleted")}

    assert got == {"legacy_all": "all", "legacy_comma": "claude,gemini",
                   "legacy_single": "gemini", "deleted": "all"}


def test_a_deleted_key_arrives_deleted_and_an_expiring_one_keeps_its_expiry(services, crs_store,
                                                                             imported):
    deleted = _key(services, crs_store, "deleted")
    expiring = _key(services, crs_store, "expiring")

    assert (deleted.is_deleted, deleted.is_active) == (True, False)
    assert deleted.deleted_at == datetime(2026, 11, 21, tzinfo=UTC)
    assert expiring.expires_at == datetime(2026, 12, 10, tzinfo=UTC)
    assert expiring.permissions == "openai"


def test_what_relaygate_does_not_enforce_is_reported_per_key(crs_store, imported):
    keys = next(phase for phase in imported.phases if phase.name == "keys")
    team = [note for note in keys.notes if crs_store.key_ids["team"] in note]

    # The rate limit and the weekly limit are enforced now; CRS ignores a window's cost while
    # the key has a tokenLimit, and so does the import, saying so.
    assert not any("weeklyOpusCostLimit" in note or "requests and" in note for note in team)
    assert any("rate limit cost of 2.5 USD is not imported" in note for note in team)
    assert not any("model blacklist" in note or "client allow-list" in note for note in team)
    assert any("owned by CRS user alice (user-1)" in note for note in team)
    assert keys.counts == {"created": 6 + len(CRS_LIMITED_KEYS), "updated": 0, "unchanged": 0,
                           "skipped": 0}


def test_model_and_client_restrictions_are_enforced_not_reported(services, crs_store, imported):
    team = _key(services, crs_store, "team")

    assert (team.denied_models, team.allowed_clients) == (["claude-opus-4-1"], ["claude_code"])
    checks = {check.key_id: check for check in imported.controls}
    assert checks[team.id].ok and checks[team.id].source["deniedModels"] == ["claude-opus-4-1"]


def test_secret_rotation_reseals_the_crs_secret_and_cr_keys_keep_working(app, client, crs_store,
                                                                         imported):
    rotated = make_app(app.instance_path, services_of(app).settings.database_url,
                       secret_key="a new master secret for relaygate",
                       secret_key_previous=("test-secret-key-for-relaygate",))
    try:
        done = services_of(rotated).secrets.rotate()
        response = check(rotated.test_client(), _headers(crs_store, "team"), "GPT-4o")
    finally:
        services_of(rotated).engine.dispose()

    assert done["secrets"] == 1
    assert response.status_code == 200
