"""The registry outbox on `/metrics`: messages pending, delivered (not yet pruned) and failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.watchlist.outbox_store import OutboxCounts


class OutboxCollector(Collector):
    def __init__(self, counts: Callable[[], OutboxCounts]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        family = GaugeMetricFamily(
            "vigil_registry_outbox_messages",
            "Messages for the external registry (UPR_API_URL) by status; failed ones were given up on",
            labels=["status"],
        )
        for status in ("pending", "delivered", "failed"):
            family.add_metric([status], float(getattr(counts, status)))
        yield family
