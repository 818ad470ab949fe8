"""`/metrics` for Prometheus: per-camera stage counters, source health, events, store sizes.

Values are read at scrape time from the live objects (a custom collector on a per-app registry),
so nothing in the pipeline pays for metrics it never scrapes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.live.camera import CameraStatus
from vigil.live.health import SourceState
from vigil.web.events import EventBus

StatusSource = Callable[[], Mapping[str, CameraStatus]]
GAUGES = {"stream_s"}  # everything else in StageCounters only grows
HELP = {  # counters an operator acts on: say what they mean
    "embed_dropped_first": "First faces of tracks dropped by a full embedding queue (may go unrecognised)",
    "embed_dropped_improvement": "Better faces of already embedded tracks dropped by a full embedding queue",
}
STATES = tuple(state.value for state in SourceState)


class VigilCollector(Collector):
    def __init__(self, statuses: StatusSource, events: EventBus, store_counts: Callable[[], dict[str, int]]):
        self._statuses, self._events, self._store_counts = statuses, events, store_counts

    def collect(self) -> Iterator[Metric]:
        statuses = self._statuses()
        yield from self._camera_metrics(statuses)
        published = CounterMetricFamily("vigil_events", "Pipeline events published to live subscribers")
        published.add_metric([], self._events.published)
        yield published
        subscribers = GaugeMetricFamily("vigil_event_subscribers", "Open /api/events streams")
        subscribers.add_metric([], self._events.subscriber_count)
        yield subscribers
        rows = GaugeMetricFamily("vigil_store_rows", "Rows in the identity store", labels=["table"])
        for table, count in self._store_counts().items():
            rows.add_metric([table], count)
        yield rows

    def _camera_metrics(self, statuses: Mapping[str, CameraStatus]) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        state = GaugeMetricFamily(
            "vigil_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        fps = GaugeMetricFamily("vigil_camera_fps", "Frames per second", labels=["camera", "kind"])
        reconnects = CounterMetricFamily("vigil_camera_reconnects", "Reconnections", labels=["camera"])
        for name, status in statuses.items():
            health = status.health
            for value in STATES:
                state.add_metric([name, value], 1.0 if health.state.value == value else 0.0)
            fps.add_metric([name, "input"], health.input_fps)
            fps.add_metric([name, "analysed"], health.analysed_fps)
            reconnects.add_metric([name], health.reconnects)
            for key, count in status.counters.to_dict().items():
                family = families.get(key)
                if family is None:
                    metric, doc = f"vigil_camera_{key}", HELP.get(key, f"Per-camera counter {key}")
                    family = (GaugeMetricFamily if key in GAUGES else CounterMetricFamily)(
                        metric, doc, labels=["camera"]
                    )
                    families[key] = family
                family.add_metric([name], float(count))
        yield state
        yield fps
        yield reconnects
        yield from families.values()


def build_registry(
    statuses: StatusSource, events: EventBus, store_counts: Callable[[], dict[str, int]]
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VigilCollector(statuses, events, store_counts))
    return registry
