"""The start-up heap is frozen once per process (registry.api.heap)."""

from __future__ import annotations

import gc

from registry.api.heap import freeze_startup_heap


def test_the_start_up_heap_is_frozen_once_per_process() -> None:
    before = gc.get_freeze_count()
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
        if before:
            assert frozen == before  # frozen already (an app started in this process)
        made_later = [[n] for n in range(10_000)]
        assert freeze_startup_heap() == frozen  # not again: what comes later is collected
        assert gc.get_freeze_count() < frozen + len(made_later)
    finally:
        if not before:
            gc.unfreeze()  # leave the test process as it was
