"""Cameras that move to this server when the server that ran them goes away.

Servers over one database each claim the cameras they run (vigil/store/camera_claims.py); a
camera another server held when this one started it waits here. The claim is released when its
holder stops the camera or dies (the database or the operating system drops the lock), so this
thread asks the camera manager every `web.camera_takeover_s` to start the waiting cameras it can
now claim (CameraManager.take_over): a dead server's cameras resume on another one within about
that period, with no coordinator. The same call first stops the cameras whose claim this server
lost with its database session, since another server may start them now."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["CameraTakeover"]

log = logging.getLogger(__name__)


class CameraTakeover:
    """Calls `take_over` every `period_s` on a thread of its own until closed."""

    def __init__(self, take_over: Callable[[], list[str]], period_s: float) -> None:
        self._take_over, self.period_s = take_over, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-camera-takeover", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self._take_over()
            except Exception:  # a database outage: try again at the next period, never stop
                log.exception("taking over the cameras other servers let go failed; trying again")
