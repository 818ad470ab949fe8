"""Recent warnings and errors, kept in memory for the System page (a logging handler).

Identical records (same level, logger and message) share one entry with a count, so a warning
repeated on every loop of a file (a corrupt packet) cannot push the real errors out."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime


@dataclass(frozen=True)
class LogLine:
    at: datetime  # the latest occurrence
    level: str
    logger: str
    message: str
    count: int = 1  # occurrences since the first one still kept
    first_at: datetime | None = None  # the first occurrence, when count > 1


_Key = tuple[str, str, str]


class RecentErrors(logging.Handler):
    """Keeps the last `size` distinct records at WARNING or above; attach to the root logger while serving."""

    def __init__(self, size: int = 200) -> None:
        super().__init__(logging.WARNING)
        self._size = size
        self._lines: OrderedDict[_Key, LogLine] = OrderedDict()  # oldest first
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        line = LogLine(
            datetime.fromtimestamp(record.created, UTC), record.levelname, record.name, message[:2000]
        )
        key = (line.level, line.logger, line.message)
        with self._guard:
            earlier = self._lines.pop(key, None)
            if earlier is not None:
                line = replace(line, count=earlier.count + 1, first_at=earlier.first_at or earlier.at)
            self._lines[key] = line  # a repeat moves to the newest end
            if len(self._lines) > self._size:
                self._lines.popitem(last=False)

    def lines(self) -> list[LogLine]:
        """Newest first."""
        with self._guard:
            return list(reversed(self._lines.values()))
