"""Waiting in tests for what a real camera, server or cluster does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(value: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.25) -> T:
    """`value()` once it is truthy (None, False and empty mean not yet); AssertionError naming
    `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (found := value()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)
    assert found is not None
    return found
