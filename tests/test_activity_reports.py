"""Activity reports to an external service (issue 18 item 5, seed 002's 5-minute reports): built
from the stored segments, queued in the durable outbox and POSTed with the bearer key to a real
HTTP receiver, which is stopped and restarted: every report arrives exactly once, in order."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tests.test_watchlist_outbox import Receiver, wait_until
from vigil.activity.history import NewSegment, StoredSegment
from vigil.activity.labels import Activity as A
from vigil.activity.report_settings import ReportSettings
from vigil.activity.reports import ReportService, ReportWorker, period_end_before, summarise
from vigil.activity.repository import ActivityRepository
from vigil.activity.result import CueSummary
from vigil.outbox.delivery import POLL_S, RetryPolicy
from vigil.outbox.store import OutboxCounts
from vigil.store.database import Database

KEY = "act-Report-Key-93b1"
CUES = CueSummary(present=1.0, motion=0.2, eyes_closed=0.0, head_down=0.0, hand_at_ear=0.0,
                  hand_at_mouth=0.0, hands_in_front=0.0, voice=0.0, objects=[], sounds=[])  # fmt: skip
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a period boundary (5-minute periods)
POLICY = RetryPolicy(1.0, 8.0, timedelta(hours=1), max_refusals=3)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: T0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def seg(camera: str, activity: A, start: datetime, seconds: float, confidence: float = 0.8) -> NewSegment:
    return NewSegment(camera, activity, start, start + timedelta(seconds=seconds), confidence, CUES)


def deliver_due(worker: ReportWorker) -> list[float]:
    """Steps until nothing is due or the receiver asks to wait; the pauses returned."""
    pauses = [worker.step()]
    while pauses[-1] == 0.0:
        pauses.append(worker.step())
    return pauses


def settings(url: str) -> ReportSettings:
    return ReportSettings(enabled=True, url=url, key=KEY, interval_s=300)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    if server._server is not None:
        server._server.shutdown()
        server._server.server_close()


def test_a_report_summarises_its_period() -> None:
    stored = [
        seg("desk", A.READING, T0 - timedelta(minutes=2), 300, 0.9),  # 12:00-12:03 inside: 180 s
        seg("desk", A.EATING, T0 + timedelta(minutes=3), 60, 0.6),  # 60 s; 12:04-12:05 uncovered
        seg("hall", A.BUSY, T0, 300, 0.5),  # another camera
    ]
    rows = [StoredSegment(**s.__dict__, id=i) for i, s in enumerate(stored)]
    report = summarise("desk", rows, T0, T0 + timedelta(minutes=5), now=T0 + timedelta(minutes=5))
    assert report is not None
    assert report.dominant == A.READING and report.segments == 2
    assert report.distribution == {A.EATING: 0.25, A.READING: 0.75}
    assert report.confidence == pytest.approx((0.9 * 180 + 0.6 * 60) / 240)
    assert report.covered_s == 240.0
    body = report.model_dump(mode="json")
    assert body["period_start"] == "2026-12-05T12:00:00Z" and body["period_end"] == "2026-12-05T12:05:00Z"
    assert body["event"] == "activity_report" and body["distribution"] == {"eating": 0.25, "reading": 0.75}
    assert summarise("nobody", rows, T0, T0 + timedelta(minutes=5), now=T0) is None


def test_reports_wait_while_the_receiver_is_down_and_arrive_once_in_order(
    db: Database, receiver: Receiver
) -> None:
    repo = ActivityRepository(db)
    clock = Clock(T0 + timedelta(minutes=5, seconds=2))
    service = ReportService(settings(receiver.url), db, clock=clock, policy=POLICY)
    receiver.stop()  # the external service is down
    repo.add([seg("door", A.READING, T0, 200), seg("kitchen", A.EATING, T0 + timedelta(seconds=60), 100)])
    first = service.tick()
    assert [(r.camera, r.dominant) for r in first] == [("door", A.READING), ("kitchen", A.EATING)]
    assert service.worker.step() == 1.0  # refused connection: wait the first delay
    repo.add([seg("door", A.BUSY, T0 + timedelta(minutes=5), 300, 0.7)])
    clock.advance(300)
    second = service.tick()
    assert [(r.camera, r.dominant, r.period_start) for r in second] == [
        ("door", A.BUSY, T0 + timedelta(minutes=5))
    ]
    assert service.worker.step() == 2.0  # the second failure of the oldest: doubled
    assert service.tick() == []  # a period is queued once
    assert service.outbox.counts() == OutboxCounts(pending=3)
    [failed_once] = [e for e in service.outbox.entries() if e.attempts == 2]
    assert "ConnectError" in failed_once.last_error and KEY not in failed_once.last_error

    restarted = Receiver(port=receiver.port).start()  # back, on the same address
    try:
        clock.advance(60)
        assert deliver_due(service.worker) == [0.0, 0.0, 0.0, POLL_S]
        queued = [str(r.message_id) for r in first + second]
        assert restarted.ids() == queued  # exactly once each, oldest first
        assert {r.authorization for r in restarted.requests} == {f"Bearer {KEY}"}
        assert [r.idempotency_key for r in restarted.requests] == queued
        assert restarted.requests[0].body["distribution"] == {"reading": 1.0}
        assert service.outbox.counts() == OutboxCounts(delivered=3)
        assert deliver_due(service.worker) == [POLL_S] and len(restarted.requests) == 3
    finally:
        restarted.stop()
        service.worker.client.close()


def test_the_delivery_thread_sends_what_was_queued_while_the_receiver_was_down(
    db: Database, receiver: Receiver
) -> None:
    fast = RetryPolicy(0.05, 0.2, timedelta(hours=1), max_refusals=3)
    service = ReportService(settings(receiver.url), db, policy=fast)  # the real clock
    end = period_end_before(datetime.now(UTC), 300)
    receiver.stop()
    ActivityRepository(db).add([seg("door", A.ASLEEP, end - timedelta(seconds=300), 300, 0.95)])
    service.start()
    try:
        wait_until(lambda: service.outbox.counts().pending == 1)
        wait_until(lambda: service.outbox.entries()[0].attempts >= 2)  # retried while down
        restarted = Receiver(port=receiver.port).start()
        try:
            wait_until(lambda: service.outbox.counts() == OutboxCounts(delivered=1))
            assert [r.body["dominant"] for r in restarted.requests] == ["asleep"]
        finally:
            restarted.stop()
    finally:
        service.close()


def test_a_refused_report_is_failed_after_its_refusals_and_others_go_on(
    db: Database, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.answers = [(401, {})] * 3
    receiver.echo_auth = True  # an error page quoting the key back
    clock = Clock(T0 + timedelta(minutes=5, seconds=2))
    service = ReportService(settings(receiver.url), db, clock=clock, policy=POLICY)
    ActivityRepository(db).add([seg("door", A.READING, T0, 100), seg("kitchen", A.EATING, T0, 100)])
    assert len(service.tick()) == 2
    assert service.worker.step() == 0.0  # door refused (401): the others may go
    assert service.worker.step() == 0.0  # kitchen refused too (the 2nd 401)
    clock.advance(10)
    assert service.worker.step() == 0.0  # door's 2nd refusal
    assert service.worker.step() == 0.0  # kitchen: 200
    clock.advance(10)
    assert service.worker.step() == 0.0  # door's 3rd... served 200 now: the answers ran out
    assert service.outbox.counts() == OutboxCounts(delivered=2)
    receiver.answers = [(403, {})] * 3
    service.repo.add([seg("door", A.BUSY, T0 + timedelta(minutes=5), 100)])
    clock.advance(300)
    assert len(service.tick()) == 1
    for _ in range(3):
        service.worker.step()
        clock.advance(10)
    assert service.outbox.counts() == OutboxCounts(delivered=2, failed=1)
    [(report, error)] = service.outbox.failed()
    assert report.camera == "door" and error.startswith("HTTP 403")
    assert KEY not in error and KEY not in caplog.text and "gave up" in caplog.text
    service.worker.client.close()


def test_report_settings_need_url_and_key_and_hide_the_key() -> None:
    with pytest.raises(ValidationError, match=r"needs activity\.report\.url"):
        ReportSettings(enabled=True, url="http://reports.example/api")
    with pytest.raises(ValidationError, match=r"http:// or https://"):
        ReportSettings(url=f"ftp://user:{KEY}@host/")
    on = settings("https://reports.example/api")
    assert KEY not in repr(on) and KEY not in on.model_dump_json()
    assert ReportSettings().enabled is False and ReportSettings().interval_s == 300.0


def test_delivered_reports_are_kept_as_long_as_the_catch_up_looks_back(db: Database) -> None:
    quick = ReportSettings(enabled=True, url="http://127.0.0.1:9/r", key=KEY, keep_delivered_days=0)
    service = ReportService(quick, db)
    assert service.worker.keep_delivered == timedelta(seconds=300 * 13)  # else a restart would resend them
    service.worker.client.close()
