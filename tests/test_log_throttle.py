"""Issue 14, defect 9: a warning repeated on every loop of a file is logged once per interval."""

from __future__ import annotations

from vigil.log_throttle import LogThrottle


def test_repeats_are_held_back_and_counted_until_the_interval_passes() -> None:
    now = [0.0]
    throttle = LogThrottle(interval_s=60.0, clock=lambda: now[0])
    assert throttle.allow("corrupt packet") == (True, 0)
    assert [throttle.allow("corrupt packet")[0] for _ in range(499)] == [False] * 499
    assert throttle.allow("another warning") == (True, 0), "other messages are not held back"
    now[0] = 61.0
    assert throttle.allow("corrupt packet") == (True, 499)
    assert throttle.allow("corrupt packet") == (False, 1)
