"""How long the usage drain waits after a pass: the fewer entries it found, the longer."""

from app.services.usage.drain import DrainWorker


def worker(**settings) -> DrainWorker:
    return DrainWorker(queue=None, consumer="pace", **settings)  # type: ignore[arg-type]


def test_after_an_empty_pass_a_drain_waits_its_idle_sleep():
    assert worker().wait_after(0) == 1.0
    assert worker(idle_sleep=0.3).wait_after(0) == 0.3


def test_after_a_small_pass_a_drain_waits_the_longer_the_fewer_it_found_but_at_least_its_pace():
    drain = worker(idle_sleep=1.0, batch=500, pace=0.2)
    waits = [drain.wait_after(taken) for taken in (20, 100, 250, 400, 499)]
    assert waits == sorted(waits, reverse=True)
    assert waits[0] == 1.0 * (1 - 20 / 500) and waits[2] == 0.5
    assert waits[-2:] == [0.2, 0.2]


def test_a_pace_longer_than_the_idle_sleep_is_cut_to_it():
    assert worker(idle_sleep=0.1, pace=0.5).wait_after(499) == 0.1
