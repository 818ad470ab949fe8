"""The registry outbox on `/metrics`: messages pending, delivered (not yet pruned) and failed."""

from __future__ import annotations

from collections.abc import Callable

from vigil.outbox import metrics
from vigil.outbox.store import OutboxCounts


class OutboxCollector(metrics.OutboxCollector):
    def __init__(self, counts: Callable[[], OutboxCounts]) -> None:
        super().__init__(
            counts,
            "vigil_registry_outbox_messages",
            "Messages for the external registry (UPR_API_URL) by status; failed ones were given up on",
        )
