"""Job kinds: a parameters model, a result model and a run function, registered by convention.

A package that offers a kind of job has a `job.py` module with `KIND = JobKind(...)`
(e.g. `vigil/batch/job.py` for `track`); `registry()` finds every `vigil.<package>.job`, so
adding a kind touches that one module. Run functions receive typed parameters and a
`JobContext` (progress reports, cancel event) and never see the web app or the database, so
an executor may run them in another process or on another machine."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from vigil.jobs.errors import UnknownJobKind
from vigil.jobs.model import FINAL_STATES, JobOutcome, JobPayload, JobProgress, JobRecord, JobState

if TYPE_CHECKING:
    from vigil.config import VigilSettings

KIND_MODULE = "job"
log = logging.getLogger(__name__)
P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


class JobContext(Protocol):
    """What a run function may do besides its work: report progress, notice a cancel."""

    @property
    def cancel(self) -> threading.Event: ...

    def report(self, progress: JobProgress) -> None: ...


@dataclass(frozen=True)
class Finished(Generic[R]):
    """A run's end: done, failed (e.g. some inputs failed, listed in the result) or cancelled."""

    state: JobState
    result: R | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.state not in FINAL_STATES:
            raise ValueError(f"a run ends done, failed or cancelled, not {self.state}")


@dataclass(frozen=True)
class JobKind(Generic[P, R]):
    name: str
    title: str  # what the job does, for lists ("Batch tracking")
    params_model: type[P]
    result_model: type[R]
    run: Callable[[P, JobContext], Finished[R]]
    # True when a run interrupted midway may simply start again: its finished outputs are kept
    # and skipped, its unfinished ones were never visible (atomic writes).
    resumable: bool = False
    describe: Callable[[P], str] | None = None  # one line naming the inputs, for lists
    plan: Callable[[P], JobProgress] | None = None  # the progress before the run (items pending)
    # The files a run reads, so that a file (an upload) is not deleted while a job still needs it.
    inputs: Callable[[P], list[str]] | None = None

    def params_of(self, record: JobRecord) -> P:
        return self.params_model.model_validate(record.params)

    def result_of(self, record: JobRecord) -> R | None:
        return None if record.result is None else self.result_model.model_validate(record.result)

    def inputs_of(self, record: JobRecord) -> list[str]:
        return [] if self.inputs is None else self.inputs(self.params_of(record))

    def summary(self, record: JobRecord) -> str:
        return self.title if self.describe is None else self.describe(self.params_of(record))

    def initial_progress(self, params: P) -> JobProgress:
        return JobProgress() if self.plan is None else self.plan(params)

    def execute(self, payload: JobPayload, context: JobContext) -> JobOutcome:
        """Decode the payload, run, encode the outcome (the executor's side of a job)."""
        finished = self.run(self.params_model.model_validate(payload.params), context)
        result = None if finished.result is None else finished.result.model_dump(mode="json")
        return JobOutcome(state=finished.state, result=result, error=finished.error)


AnyKind = JobKind[Any, Any]


@functools.cache
def registry() -> Mapping[str, AnyKind]:
    """Every kind offered by a `vigil.<package>.job` module, by name."""
    import vigil

    return discover_kinds(vigil)


def discover_kinds(root: ModuleType) -> dict[str, AnyKind]:
    """The kinds of `<root>.<package>.job` modules. A module that fails to import (a missing
    optional dependency, a bug) is logged and left out: the other kinds still run, and jobs of
    the missing kind fail with "unknown job kind" instead of stopping the server."""
    kinds: dict[str, AnyKind] = {}
    for package in pkgutil.iter_modules(root.__path__):
        name = f"{root.__name__}.{package.name}.{KIND_MODULE}"
        try:
            if not package.ispkg or importlib.util.find_spec(name) is None:
                continue
            kind = getattr(importlib.import_module(name), "KIND", None)
        except Exception:
            log.exception("job kinds: %s cannot be imported; its jobs cannot run here", name)
            continue
        if not isinstance(kind, JobKind):
            log.error("job kinds: %s must define KIND = JobKind(...); left out", name)
            continue
        kinds[kind.name] = kind
    return kinds


def get_kind(name: str, kinds: Mapping[str, AnyKind] | None = None) -> AnyKind:
    known = registry() if kinds is None else kinds
    try:
        return known[name]
    except KeyError:
        raise UnknownJobKind(name, sorted(known)) from None


class SettingsDirs(BaseModel):
    """The folders a job's settings were resolved against, carried in its parameters so it runs
    as submitted whatever the server's environment later is (a base of a kind's params model)."""

    data_dir: str
    shared_dir: str
    models_dir: str | None = None

    @staticmethod
    def of(settings: VigilSettings) -> dict[str, str | None]:
        """The fields for a params model, from the submitting process's settings."""
        models = settings.models_dir
        return {
            "data_dir": str(settings.data_dir.absolute()),
            "shared_dir": str(settings.shared_dir.absolute()),
            "models_dir": None if models is None else str(models.absolute()),
        }

    def overrides(self) -> dict[str, Path | None]:
        """The same folders as `load_settings` overrides."""
        return {
            "data_dir": Path(self.data_dir),
            "shared_dir": Path(self.shared_dir),
            "models_dir": None if self.models_dir is None else Path(self.models_dir),
        }


def describe_videos(videos: list[str]) -> str:
    """A job's inputs in one line: `2 videos: a.mp4, b.mp4` (the first three names, then a count)."""
    names = [PurePath(video).name for video in videos]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} video{'s' if len(names) != 1 else ''}: {shown}"
