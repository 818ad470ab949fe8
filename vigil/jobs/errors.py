"""Typed errors of the job system; `status` is the HTTP status the API answers with."""

from __future__ import annotations

from vigil.errors import ConflictError, InvalidError, NotFoundError, RefusedError


class JobError(RefusedError):
    status = 400


class JobNotFound(JobError, NotFoundError):
    status = 404

    def __init__(self, job_id: str, what: str = "job") -> None:
        super().__init__(f"no {what} with id {job_id}")
        self.job_id = job_id


class JobAlreadyFinished(JobError, ConflictError):
    status = 409

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(f"job {job_id} has already finished ({state})")
        self.job_id, self.state = job_id, state


class JobQueueFull(JobError):
    """Too many jobs are queued or running: the client should retry after one has finished."""

    status = 429
    retry_after_s = 30  # sent as the Retry-After header

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(
            f"{active} jobs are already queued or running (limit {limit}): "
            "retry when one has finished, or cancel one"
        )


class UnknownJobKind(JobError, InvalidError):
    status = 422

    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(f"unknown job kind {kind!r}; known: {', '.join(known) or 'none'}")
