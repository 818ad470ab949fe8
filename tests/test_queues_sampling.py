import itertools
import threading
import time

import pytest

from vigil.live.queues import DropOldestQueue
from vigil.live.sampling import FrameSampler


def test_drop_oldest_keeps_newest_and_counts() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(2)
    assert queue.put(1) is None and queue.put(2) is None
    assert queue.put(3) == 1
    assert queue.dropped == 1
    assert [queue.get(0), queue.get(0)] == [2, 3]
    with pytest.raises(TimeoutError):
        queue.get(0.01)


def test_control_items_are_never_dropped() -> None:
    queue: DropOldestQueue[str] = DropOldestQueue(2)
    queue.put("end", droppable=False)
    queue.put("a")
    queue.put("b")  # drops "a", not the control item
    queue.put("stop", droppable=False)  # control items never evict data: the queue grows
    queue.put("more", droppable=False)
    assert [queue.get(0) for _ in range(len(queue))] == ["end", "b", "stop", "more"]
    assert queue.dropped == 1


def test_blocking_put_waits_for_consumer_and_honours_stop() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(1)
    stop = threading.Event()
    queue.put(0)
    threading.Timer(0.1, lambda: queue.get(1)).start()
    started = time.monotonic()
    assert queue.put_blocking(1, stop)
    assert time.monotonic() - started >= 0.05
    stop.set()
    assert not queue.put_blocking(2, stop)
    assert queue.dropped == 0


def test_sampler_picks_target_rate_from_2997_fps() -> None:
    sampler = FrameSampler(5.0)
    taken = [i for i in range(3000) if sampler.take(i / 29.97)]
    assert abs(len(taken) - 3000 / 29.97 * 5) <= 1  # 5 fps, no drift over 100 s
    gaps = {b - a for a, b in itertools.pairwise(taken)}
    assert gaps <= {5, 6, 7}


def test_sampler_handles_low_input_rate_and_restart() -> None:
    sampler = FrameSampler(5.0)
    assert all(sampler.take(i / 2) for i in range(10))  # 2 fps input: every frame is taken
    sampler = FrameSampler(5.0)
    assert sampler.take(100.0)
    assert sampler.take(0.0)  # timestamps restarted (reconnect): schedule resets
    assert not sampler.take(0.05)
