"""infra/heap.py: a long-lived process settles its heap (collect, then freeze) only when it has been
quiet after some activity, and a settle collects cycles that the previous one froze."""

from __future__ import annotations

import gc
import time
import weakref

from infra import heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_a_quiet_process_settles_and_collects_what_the_last_settle_froze():
    settler = heap.HeapSettler(quiet=0.05, every=0.0)
    try:
        heap.touch()
        assert not settler.due(time.monotonic())  # busy just now
        time.sleep(0.06)
        assert settler.due(time.monotonic())
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle, alive while `a` is referenced
        watch = weakref.ref(a)
        settler.settle_now()
        assert gc.get_freeze_count() > 0 and settler.settles == 1
        assert not settler.due(time.monotonic() + 1)  # nothing happened since: no walk for nothing
        del a, b  # now garbage, but frozen: only a settle finds it
        gc.collect()
        assert watch() is not None
        heap.touch()
        time.sleep(0.06)
        assert settler.due(time.monotonic())
        settler.settle_now()
        assert watch() is None
    finally:
        gc.unfreeze()


def test_a_settle_waits_for_its_interval():
    settler = heap.HeapSettler(quiet=0.0, every=60.0)
    heap.touch()
    assert not settler.due(time.monotonic())  # the last settle (start-up) was less than a minute ago
    assert settler.due(time.monotonic() + 61)
