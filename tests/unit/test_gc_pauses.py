import gc
import threading
import weakref

from sources.cometchat.gc_pauses import YOUNG_THRESHOLD, fewer_collections


def test_settings_are_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_restored_after_an_error_and_when_a_generator_is_closed_early() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.get_threshold() == before

    def pages():
        with fewer_collections():
            yield 1
            yield 2

    items = pages()
    next(items)
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    items.close()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_nested_and_concurrent_blocks_restore_the_settings_once_all_have_ended() -> None:
    before = gc.get_threshold()
    inner_entered, outer_may_leave = threading.Event(), threading.Event()

    def other_thread() -> None:
        with fewer_collections():
            inner_entered.set()
            outer_may_leave.wait(5)

    with fewer_collections():
        thread = threading.Thread(target=other_thread)
        thread.start()
        inner_entered.wait(5)
    # the first block ended while the other thread's is still running: settings stay raised
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    outer_may_leave.set()
    thread.join(5)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_objects_frozen_by_the_process_itself_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        # Not thawed (0), not frozen again (more: the block's own objects). A frozen object that another thread
        # frees meanwhile (pytest-xdist's) leaves the count, so it may go down a little.
        with fewer_collections():
            assert 0 < gc.get_freeze_count() <= frozen
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_cycles_made_inside_are_collected_when_the_block_ends() -> None:
    class Node:
        pass

    with fewer_collections():
        node = Node()
        node.itself = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        del node
    assert alive() is None
