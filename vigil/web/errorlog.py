"""Recent warnings and errors, kept in memory for the System page (a logging handler)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class LogLine:
    at: datetime
    level: str
    logger: str
    message: str


class RecentErrors(logging.Handler):
    """Keeps the last `size` records at WARNING or above; attach to the root logger while serving."""

    def __init__(self, size: int = 200) -> None:
        super().__init__(logging.WARNING)
        self._lines: deque[LogLine] = deque(maxlen=size)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        line = LogLine(
            datetime.fromtimestamp(record.created, UTC), record.levelname, record.name, message[:2000]
        )
        with self._guard:
            self._lines.append(line)

    def lines(self) -> list[LogLine]:
        """Newest first."""
        with self._guard:
            return list(reversed(self._lines))
