"""The usage queue's ledger: counts added atomically per instance, a loss found only in excess
of what the stream still holds, and never twice."""

from app.services.usage.ledger import UsageLedger


def ledger(services, instance: str, **options) -> UsageLedger:
    return UsageLedger(uow=services.uow, instance=instance, **options)


def test_counts_from_several_instances_add_up_and_a_loss_is_what_the_stream_no_longer_holds(
        services):
    web, other, drain = (ledger(services, "web-1", flush_seconds=3600),
                         ledger(services, "web-2"), ledger(services, "drain-1"))
    for _ in range(5):
        web.queued()  # the first is written at once, the rest wait for a flush
    other.queued(3)
    assert web.totals()["queued"] == 4
    drain.confirmed(2)
    assert web.totals() == {"queued": 4, "confirmed": 2, "lost": 0}
    # Eight queued, two confirmed: a new stream holding two of the rest means four were
    # lost. The check writes its own process's unwritten counts first.
    assert web.reconcile(lambda: 2) == 4
    assert web.totals() == {"queued": 8, "confirmed": 2, "lost": 4}
    assert drain.reconcile(lambda: 2) == 0, "a loss is reported once"


def test_a_stream_holding_everything_unconfirmed_reports_no_loss(services):
    web, drain = ledger(services, "web-1"), ledger(services, "drain-1")
    web.queued(10)
    drain.confirmed(7)
    assert drain.reconcile(lambda: 3) == 0
    drain.confirmed(4)  # one confirmed twice after a crash: never counted as a loss
    assert drain.reconcile(lambda: 0) == 0
    assert web.totals()["lost"] == 0
