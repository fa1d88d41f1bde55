"""The preview's garbage-collection setting (stacks/offline/mockrun.py `fewer_collections`): what
existed before is frozen and the young generation collected rarely during the run; afterwards the
process is as it was, also when nested or when the run fails."""

from __future__ import annotations

import gc

import pytest

from stacks.offline.mockrun import GC_YOUNG_THRESHOLD, fewer_collections


def test_the_run_freezes_and_collects_rarely_then_restores_the_process():
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with fewer_collections():
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD
        with fewer_collections():  # preview() around run_program()
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the inner one did not unfreeze the outer's objects
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_failing_run_restores_the_process_too():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the program failed")
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
