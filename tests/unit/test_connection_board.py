"""The board where gunicorn workers post the connections they hold (app/serving/balance.py):
a worker compares itself with accepting, live siblings only."""

import os
import subprocess
import sys

from app.serving.balance import STALE_SECONDS, ConnectionBoard

NOW = 1000.0


def test_a_worker_sees_the_fewest_connections_an_accepting_sibling_holds_not_its_own():
    board = ConnectionBoard(slots=4)
    mine, other, third = board.claim(101, 0), board.claim(102, 1), board.claim(103, 2)
    board.post(mine, 101, 1, NOW)
    board.post(other, 102, 7, NOW)
    board.post(third, 103, 4, NOW)
    assert board.fewest_elsewhere(mine, NOW) == 4
    assert board.fewest_elsewhere(third, NOW) == 1


def test_siblings_that_do_not_accept_or_stopped_posting_are_not_counted():
    board = ConnectionBoard(slots=4)
    mine, stopping, silent = board.claim(101, 0), board.claim(102, 1), board.claim(103, 2)
    board.post(mine, 101, 9, NOW)
    board.post(stopping, 102, -1, NOW)
    board.post(silent, 103, 0, NOW - STALE_SECONDS - 1)
    assert board.fewest_elsewhere(mine, NOW) is None


def test_a_claimed_slot_counts_only_once_its_worker_posts_and_not_after_it_is_released():
    board = ConnectionBoard(slots=4)
    mine, other = board.claim(101, 0), board.claim(102, 1)
    assert board.fewest_elsewhere(mine, NOW) is None  # booting: claimed, not accepting yet
    board.post(other, 102, 3, NOW)
    assert board.fewest_elsewhere(mine, NOW) == 3
    board.release(other, 102)
    assert board.fewest_elsewhere(mine, NOW) is None
    assert board.claim(104, 1) == other


def test_workers_booting_together_take_different_slots_and_a_dead_workers_slot_is_free():
    board = ConnectionBoard(slots=2)
    first = board.claim(os.getpid(), 7)
    assert board.claim(os.getppid(), 7) != first  # same hint, a live owner: the next slot
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = int(finished.stdout)
    board.post(first, dead, 5, NOW)  # as if a killed worker had held it
    assert board.claim(os.getpid() + 1, first) == first


def test_the_board_is_shared_with_a_forked_worker():
    board = ConnectionBoard(slots=2)
    mine = board.claim(os.getpid(), 0)
    child = os.fork()
    if child == 0:  # the worker: posts and leaves at once
        board.post(board.claim(os.getpid(), 1), os.getpid(), 6, NOW)
        os._exit(0)
    os.waitpid(child, 0)
    assert board.fewest_elsewhere(mine, NOW) == 6
