"""The usage baseline plan: each count at the finest bucket that holds it, totals exact."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.crs_import.baseline import UNKNOWN_MODEL, KeyUsage, plan
from app.crs_import.crs_source import CrsCost, CrsUsageBucket, bucket_start_utc

MODEL = "claude-sonnet-4:20250514"


def _bucket(level, label, requests, tokens, model=None, micro=None) -> CrsUsageBucket:
    start = bucket_start_utc(level, label, 8) if label else None
    return CrsUsageBucket("k", model, level, label, start, requests, tokens, 0, 0, 0, tokens,
                          None, micro, "x")


def _cost(level, label, usd) -> CrsCost:
    start = bucket_start_utc(level, label, 8) if label else None
    return CrsCost("k", "rated", level, label, start, Decimal(usd), "x")


def _usage(*items) -> KeyUsage:
    usage = KeyUsage("k")
    for item in items:
        (usage.add_cost if isinstance(item, CrsCost) else usage.add_bucket)(item)
    return usage


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _totals(entries):
    return (sum(e.counts[0] for e in entries), sum(e.counts[5] for e in entries),
            sum((e.cost for e in entries), Decimal(0)))


def test_each_count_lands_at_the_start_of_the_finest_bucket_that_holds_it():
    usage = _usage(
        _bucket("hourly", "2026-11-23:05", 2, 20, MODEL, 1_000_000),
        _bucket("daily", "2026-11-23", 3, 30, MODEL, 1_500_000),
        _bucket("monthly", "2026-11", 5, 50, MODEL, 2_500_000),
        _bucket("alltime", None, 9, 90, MODEL, 4_500_000),
        _bucket("hourly", "2026-11-23:05", 2, 20), _bucket("daily", "2026-11-23", 3, 30),
        _bucket("monthly", "2026-11", 5, 50), _bucket("alltime", None, 9, 90),
    )

    entries, notes = plan(usage, created_at=_utc(2026, 1, 1, 10, 30), now=_utc(2026, 11, 24),
                          total_cost=Decimal("4.5"))

    assert notes == []
    assert [(e.hour, e.model, e.counts[0], e.cost) for e in entries] == [
        (_utc(2026, 1, 1, 10), MODEL, 4, Decimal("2.0")),  # all time beyond the months
        (_utc(2026, 10, 31, 16), MODEL, 2, Decimal("1.0")),  # November beyond its days (+8)
        (_utc(2026, 11, 22, 16), MODEL, 1, Decimal("0.5")),  # the 23rd beyond its hours
        (_utc(2026, 11, 22, 21), MODEL, 2, Decimal("1.0")),  # 05:00 at +8
    ]
    assert _totals(entries) == (9, 90, Decimal("4.5"))


def test_what_the_key_counts_beyond_its_models_goes_to_an_unknown_model():
    usage = _usage(_bucket("daily", "2026-11-22", 3, 30, MODEL, 0),
                   _bucket("daily", "2026-11-22", 4, 45), _bucket("alltime", None, 4, 45),
                   _bucket("alltime", None, 3, 30, MODEL, 0))

    entries, _ = plan(usage, created_at=None, now=_utc(2026, 11, 24), total_cost=None)

    by_model = {e.model: e.counts[:2] for e in entries}
    assert by_model == {MODEL: (3, 30), UNKNOWN_MODEL: (1, 15)}


def test_cost_rounding_to_micro_dollars_is_settled_on_the_largest_entry():
    usage = _usage(_bucket("daily", "2026-11-22", 3, 30, MODEL, 333_333),
                   _bucket("alltime", None, 3, 30, MODEL, 333_333),
                   _bucket("alltime", None, 3, 30), _cost("total", None, "0.3333334"))

    entries, _ = plan(usage, created_at=None, now=_utc(2026, 11, 24),
                      total_cost=Decimal("0.3333334"))

    assert _totals(entries)[2] == Decimal("0.3333334")
    assert len(entries) == 1


def test_cost_the_models_do_not_carry_stays_on_the_key_as_unknown():
    usage = _usage(_bucket("daily", "2026-11-22", 2, 20), _bucket("alltime", None, 2, 20),
                   _cost("daily", "2026-11-22", "0.75"), _cost("total", None, "1.25"))

    entries, _ = plan(usage, created_at=_utc(2026, 10, 1), now=_utc(2026, 11, 24),
                      total_cost=Decimal("1.25"))

    assert [(e.hour, e.model, e.cost) for e in entries] == [
        (_utc(2026, 10, 1), UNKNOWN_MODEL, Decimal("0.5")),
        (_utc(2026, 11, 21, 16), UNKNOWN_MODEL, Decimal("0.75")),
    ]


def test_a_key_whose_buckets_have_all_expired_keeps_its_totals_at_creation():
    usage = _usage(_bucket("alltime", None, 7, 700), _bucket("alltime", None, 7, 700, MODEL,
                                                             2_000_000))

    entries, _ = plan(usage, created_at=_utc(2025, 3, 4, 5, 6), now=_utc(2026, 11, 24),
                      total_cost=Decimal(2))

    assert [(e.hour, e.model, e.counts[0], e.cost) for e in entries] == [
        (_utc(2025, 3, 4, 5), MODEL, 7, Decimal(2))]


def test_inconsistent_buckets_are_noted_not_invented():
    usage = _usage(_bucket("daily", "2026-11-22", 5, 50), _bucket("alltime", None, 3, 30))

    entries, notes = plan(usage, created_at=None, now=_utc(2026, 11, 24), total_cost=None)

    assert notes and "hold more than their period" in notes[0]
    assert _totals(entries)[0] == 5
