"""MediaPipe's and TensorFlow Lite's start-up chatter kept out of the user's terminal.

Creating a MediaPipe model (and running a legacy solution the first time) makes their C++ code
write lines such as "W0000 ... inference_feedback_manager.cc:114] Feedback manager requires ..."
or "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to file descriptor 2,
before any Python logging: `vigil activity analyse` printed 15 of them above its result. None says
anything wrong. `quiet_native_startup()` puts a pipe on descriptor 2 for the duration, drops the
lines known to be chatter (logged at DEBUG afterwards, so `-v` shows them) and passes every other
line on to the real stderr as it comes, so a genuine error (or a crash's last words) still shows.
The protobuf deprecation warnings MediaPipe's Python code triggers are filtered the same way."""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

Solution = TypeVar("Solution")

__all__ = ["quiet_native_startup", "reset_quietly", "started_quietly"]

log = logging.getLogger(__name__)

# Substrings of lines that MediaPipe 0.10.14 / TFLite print on every start, on any machine.
_CHATTER = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "Created TensorFlow Lite XNNPACK delegate for CPU",
    "inference_feedback_manager.cc",
    "GPU suport is not available",  # sic: MediaPipe's spelling
    "gl_context_egl.cc",
    "Sets FaceBlendshapesGraph acceleration to xnnpack by default",
    "You don't seem to be matching tensor names in metadata list",
    "A local ModelResources object is created",
)
_PYTHON_WARNINGS = (
    r"SymbolDatabase\.GetPrototype\(\) is deprecated",
    r"MessageFactory class is deprecated",
)
_ACTIVE = threading.Lock()  # descriptor 2 is the process's: one window at a time


def _is_chatter(line: str) -> bool:
    return any(marker in line for marker in _CHATTER)


@contextmanager
def quiet_native_startup() -> Iterator[None]:
    """Around a MediaPipe model's creation or first run. Re-entrant and thread-safe: while one
    window is open, another caller runs inside it."""
    for pattern in _PYTHON_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
    if not _ACTIVE.acquire(blocking=False):
        yield
        return
    try:
        with _filtered_fd2() as dropped:
            yield
        for line in dropped:
            log.debug("native: %s", line)
    finally:
        _ACTIVE.release()


def started_quietly(create: Callable[[], Solution]) -> Solution:
    """A legacy MediaPipe solution (Hands, FaceMesh, Pose...) made by `create`, its models loaded
    inside `quiet_native_startup()`: its graph loads them in its own threads after the
    constructor returns, so this waits until the graph is idle."""
    with quiet_native_startup():
        solution = create()
        _wait_idle(solution)
    return solution


def reset_quietly(solution: Any) -> None:
    """`solution.reset()` (a legacy solution's graph restarted: its models load again) inside
    `quiet_native_startup()`."""
    with quiet_native_startup():
        solution.reset()
        _wait_idle(solution)


def _wait_idle(solution: Any) -> None:
    graph = getattr(solution, "_graph", None)  # SolutionBase's CalculatorGraph (mediapipe 0.10.14)
    if graph is not None:
        graph.wait_until_idle()


@contextmanager
def _filtered_fd2() -> Iterator[list[str]]:
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    dropped: list[str] = []
    relay = threading.Thread(target=_relay, args=(read_end, real, dropped), daemon=True)
    relay.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield dropped
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer gone: the relay reads to the end and stops
        relay.join(timeout=5)
        os.close(real)


def _relay(read_end: int, real: int, dropped: list[str]) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for raw in pipe:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if _is_chatter(line):
                dropped.append(line)
            else:
                os.write(real, raw)
