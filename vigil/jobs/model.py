"""Typed values of the job system: states, progress, records and the serialisable payload."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

JsonObject = dict[str, JsonValue]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES


ACTIVE_STATES: frozenset[JobState] = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING})
FINAL_STATES: frozenset[JobState] = frozenset(set(JobState) - ACTIVE_STATES)


class ItemState(StrEnum):
    """One input of a job (e.g. a video): pending, running, then one of the four ends."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class ItemProgress(BaseModel):
    """Progress of one input, in the kind's units (frames) and steps (chunks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: ItemState = ItemState.PENDING
    units_done: int = 0
    units_total: int = 0
    steps_done: int = 0
    steps_total: int = 0
    error: str | None = None


class JobProgress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    overall: float = Field(0.0, ge=0.0, le=1.0, description="0..1; 1 only when every item is finished")
    items: list[ItemProgress] = Field(default_factory=list)


class JobPayload(BaseModel):
    """What an executor needs to run a job anywhere (another process, a Ray node): JSON only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    params: JsonObject


class JobRecord(BaseModel):
    """A job as stored. `params` and `result` are the JSON forms of the kind's models
    (`JobKind.params_of` / `result_of` read them back typed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    params: JsonObject
    state: JobState
    progress: JobProgress
    result: JsonObject | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def payload(self) -> JobPayload:
        return JobPayload(id=self.id, kind=self.kind, params=self.params)


class JobOutcome(BaseModel):
    """How a run ended, as the executor hands it back (JSON only, like the payload)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: JobState = Field(description="done, failed or cancelled")
    result: JsonObject | None = None
    error: str | None = None
