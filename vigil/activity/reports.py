"""Reports to an external service (seed 002, issue 18 item 5): every `interval_s` (5 minutes), one
JSON report per camera that had activity segments in the period just ended: its dominant
activity, the distribution (shares of the time covered), the time-weighted mean confidence and
the period. Reports are queued in the durable outbox (`vigil.outbox`: table
`activity_report_outbox`) and POSTed with `Authorization: Bearer <key>`, retried with a doubling
delay: nothing is lost while the receiver is down, and each camera's reports arrive in order.

A period is queued once per camera (a unique key on camera and period end), so a restart or a
second process never sends one twice; periods missed while Vigil was down are queued at start,
up to `CATCH_UP_PERIODS` back."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vigil.activity.history import StoredSegment
from vigil.activity.labels import Activity
from vigil.activity.report_settings import ReportSettings
from vigil.activity.repository import ActivityRepository
from vigil.activity.tables import ActivityReportOutboxMessage as Outbox
from vigil.outbox.delivery import BearerClient, DeliveryWorker, RetryPolicy
from vigil.outbox.metrics import OutboxCollector
from vigil.outbox.store import TableOutbox, insert_message, table_of
from vigil.redact import redact
from vigil.store.database import Database

log = logging.getLogger(__name__)
CATCH_UP_PERIODS = 12  # an hour of 5-minute periods


class ActivityReport(BaseModel):
    """The body of one POST; times are ISO-8601 in UTC (`…Z`). The receiver de-duplicates on
    `message_id` (delivery is at least once; the same id on every retry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1  # of this format
    message_id: uuid.UUID
    event: Literal["activity_report"] = "activity_report"
    queued_at: datetime
    camera: str
    period_start: datetime
    period_end: datetime
    dominant: Activity = Field(description="the activity that lasted longest in the period")
    distribution: dict[Activity, float] = Field(description="share of the covered time per activity")
    confidence: float = Field(ge=0, le=1, description="mean confidence, weighted by time")
    covered_s: float = Field(description="seconds of the period with an activity segment")
    segments: int

    @field_serializer("queued_at", "period_start", "period_end")
    def _utc(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summarise(
    camera: str, segments: Sequence[StoredSegment], start: datetime, end: datetime, now: datetime
) -> ActivityReport | None:
    """The report of `camera` for [start, end) from its segments (clipped); None without any."""
    seconds: dict[Activity, float] = defaultdict(float)
    weighted = 0.0
    count = 0
    for segment in segments:
        overlap = (min(segment.ended_at, end) - max(segment.started_at, start)).total_seconds()
        if segment.camera != camera or overlap <= 0:
            continue
        seconds[segment.activity] += overlap
        weighted += segment.confidence * overlap
        count += 1
    covered = sum(seconds.values())
    if covered <= 0:
        return None
    ordered = [a for a in Activity if a in seconds]
    return ActivityReport(
        message_id=uuid.uuid4(), queued_at=now, camera=camera, period_start=start, period_end=end,
        dominant=max(ordered, key=lambda a: seconds[a]),  # ties: the first in Activity's order
        distribution={a: round(seconds[a] / covered, 4) for a in ordered},
        confidence=round(min(max(weighted / covered, 0.0), 1.0), 4), covered_s=round(covered, 3),
        segments=count,
    )  # fmt: skip


class ReportOutbox(TableOutbox[ActivityReport]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, table_of(Outbox), "camera", ActivityReport.model_validate)

    def last_period_end(self) -> datetime | None:
        with self.db.reader.connect() as conn:
            value: datetime | None = conn.execute(select(func.max(Outbox.period_end))).scalar_one()
        return value

    def enqueue(self, report: ActivityReport) -> bool:
        """Queues `report` unless its camera's period is already queued; whether it was."""
        body = report.model_dump(mode="json")
        group: dict[str, object] = {"camera": report.camera, "period_end": report.period_end}
        try:
            with self.db.writer.begin() as conn:
                exists = select(Outbox.id).where(
                    Outbox.camera == report.camera, Outbox.period_end == report.period_end
                )
                if conn.execute(exists).first() is not None:
                    return False
                insert_message(conn, self.table, group, report.event, body, report.queued_at)
        except IntegrityError:  # another process queued it meanwhile
            return False
        return True


def period_end_before(now: datetime, interval_s: float) -> datetime:
    """The end of the last whole period at `now` (periods are aligned on the epoch: 12:00, 12:05…)."""
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % interval_s, UTC)


def queue_reports(
    repo: ActivityRepository, outbox: ReportOutbox, interval_s: float, now: datetime
) -> list[ActivityReport]:
    """Queues the reports of every whole period not queued yet (the last one, and those missed
    while Vigil was down, up to `CATCH_UP_PERIODS`); the reports queued, oldest first."""
    step = timedelta(seconds=interval_s)
    last_end = period_end_before(now, interval_s)
    first_end = last_end - step * (CATCH_UP_PERIODS - 1)
    done = outbox.last_period_end()
    if done is not None:
        first_end = max(first_end, done + step)
    queued: list[ActivityReport] = []
    end = first_end
    while end <= last_end:
        start = end - step
        segments = repo.overlapping(start, end)
        for camera in sorted({s.camera for s in segments}):
            report = summarise(camera, segments, start, end, now)
            if report is not None and outbox.enqueue(report):
                queued.append(report)
        end += step
    return queued


class ReportWorker(DeliveryWorker[ActivityReport]):
    name = "activity reports"


def retry_policy(settings: ReportSettings) -> RetryPolicy:
    return RetryPolicy(
        settings.retry_backoff_s,
        max(settings.max_backoff_s, settings.retry_backoff_s),
        timedelta(hours=settings.give_up_after_h),
        settings.max_refusals,
    )


class ReportService:
    """The scheduler thread (queues a period's reports when it ends) and the delivery worker."""

    def __init__(
        self,
        settings: ReportSettings,
        db: Database,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy: RetryPolicy | None = None,
    ) -> None:
        assert settings.url is not None and settings.key is not None
        self.settings, self.clock = settings, clock
        self.repo, self.outbox = ActivityRepository(db), ReportOutbox(db)
        client = BearerClient(settings.url, settings.key.get_secret_value(), settings.timeout_s)
        # Delivered reports stay at least as long as the catch-up looks back: a restart must find
        # them to know their periods were sent.
        catch_up = timedelta(seconds=settings.interval_s * (CATCH_UP_PERIODS + 1))
        keep = max(timedelta(days=settings.keep_delivered_days), catch_up)
        self.worker = ReportWorker(self.outbox, client, policy or retry_policy(settings), keep, clock=clock)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[ActivityReport]:
        """Queues what is due now and wakes the delivery."""
        queued = queue_reports(self.repo, self.outbox, self.settings.interval_s, self.clock())
        if queued:
            self.worker.wake()
        return queued

    def start(self) -> None:
        self.worker.start()
        self._thread = threading.Thread(target=self._run, name="activity-report-scheduler", daemon=True)
        self._thread.start()
        log.info(
            "activity reports: every %.0f s to %s", self.settings.interval_s, redact(self.settings.url or "")
        )

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.worker.stop()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception as exc:  # the database is away: try again at the next period
                log.warning("activity reports: %s", redact(f"{type(exc).__name__}: {exc}"))
            now = self.clock()
            next_end = period_end_before(now, self.settings.interval_s) + timedelta(
                seconds=self.settings.interval_s
            )
            # A little after the period's end: a live segment extended at the boundary is in.
            self._stopping.wait(max((next_end - now).total_seconds(), 0.0) + 2.0)


def report_metrics(db: Database) -> OutboxCollector:
    """The reports' outbox on `/metrics`."""
    return OutboxCollector(
        ReportOutbox(db).counts,
        "vigil_activity_report_outbox_messages",
        "Activity reports for activity.report.url by status; failed ones were given up on",
    )


def start_report_service(settings: ReportSettings, db: Database) -> ReportService | None:
    """The reports' scheduler and delivery, started; None when reports are off."""
    if not settings.enabled:
        return None
    service = ReportService(settings, db)
    service.start()
    return service
