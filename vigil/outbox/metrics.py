"""An outbox on `/metrics`: messages pending, delivered (not yet pruned) and failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.outbox.store import OutboxCounts


class OutboxCollector(Collector):
    def __init__(self, counts: Callable[[], OutboxCounts], name: str, documentation: str) -> None:
        self._counts, self._name, self._documentation = counts, name, documentation

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        family = GaugeMetricFamily(self._name, self._documentation, labels=["status"])
        for status in ("pending", "delivered", "failed"):
            family.add_metric([status], float(getattr(counts, status)))
        yield family
