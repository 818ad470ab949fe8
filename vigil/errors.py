"""Typed exceptions whose messages tell the user what to do.

Errors a caller can act on derive from `RefusedError`, whose `status` names the kind of refusal as
an HTTP status (not found, conflict...). The web app maps them in one exception handler
(`vigil.web.errors`); the CLI prints their message. No caller looks at the message text."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import ClassVar


class VigilError(Exception):
    """Base class of every error Vigil raises on purpose."""


class RefusedError(VigilError):
    """A request that cannot be carried out as asked; `status` is its HTTP status, and
    `retry_after_s`, when set, tells the caller when trying again makes sense."""

    status: ClassVar[int] = 400
    retry_after_s: int | None = None

    def details(self) -> dict[str, object]:
        """Structured fields an API answer carries beside `detail` (e.g. why each photo was refused)."""
        return {}


class NotFoundError(RefusedError):
    """The named thing does not exist (or no longer does)."""

    status = 404


class ConflictError(RefusedError):
    """Not possible in the current state (a name taken, the last admin, a repair that empties)."""

    status = 409


class InvalidError(RefusedError):
    """A value the request gave cannot be used (a malformed URL, a weak password)."""

    status = 422


class UnavailableError(RefusedError):
    """A resource cannot deliver right now; retrying later may work."""

    status = 503


class BadRequestError(RefusedError):
    """The request itself cannot be carried out as given (inputs, settings, engine choice)."""

    status = 400


class ConfigError(BadRequestError):
    """Invalid or inconsistent configuration (at start, or in a request's settings)."""


class SourceError(VigilError):
    """A video source could not be opened or read."""


class SourceUnavailable(SourceError):
    """A source is unreachable right now; retrying may help (network, unplugged camera)."""


class SourceUnsupported(SourceError):
    """A source can never be read (missing file, corrupt data, unknown codec); do not retry."""


class ModelError(BadRequestError):
    """A model file is missing, corrupt or incompatible (the engine asked for cannot run here)."""


class StoreError(VigilError):
    """The identity store cannot be used (unknown URL, bad schema) or refuses a change."""


class StoreUnavailable(StoreError, UnavailableError):
    """The database server cannot be reached right now; check the URL, network and credentials."""


# ------------------------------------------------------------------ visitors
class VisitorNotFound(StoreError, NotFoundError):
    def __init__(self, visitor_id: uuid.UUID, hint: str = "") -> None:
        super().__init__(f"no visitor {visitor_id}{hint}")
        self.visitor_id = visitor_id


class RepairRefused(StoreError, ConflictError):
    """An identity repair that would leave the store wrong; `code` names the reason for forms."""

    code: ClassVar[str] = "repair_refused"


class MergeIntoItself(RepairRefused):
    code = "merge_self"

    def __init__(self) -> None:
        super().__init__("cannot merge a visitor into itself")


class SightingsNotOwned(RepairRefused):
    code = "split_foreign"

    def __init__(self, visitor_id: uuid.UUID, missing: Iterable[uuid.UUID]) -> None:
        names = sorted(map(str, missing))
        super().__init__(f"sightings {names or 'none'} do not belong to {visitor_id}")


class SplitTakesAll(RepairRefused):
    code = "split_all"

    def __init__(self) -> None:
        super().__init__("a split must leave at least one sighting with the original visitor")


class InvalidVisitorChange(StoreError, InvalidError):
    """A visitor field that cannot be set (only name and label can)."""


# ------------------------------------------------------------------ accounts
class UserNotFound(StoreError, NotFoundError):
    pass


class UserExists(StoreError, ConflictError):
    pass


class LastAdmin(StoreError, ConflictError):
    pass


class InvalidAccount(StoreError, InvalidError):
    """An unknown role or a password too weak to store."""


class ApiKeyNotFound(StoreError, NotFoundError):
    pass


class InputError(BadRequestError):
    """Batch inputs are missing or malformed (paths, video lists)."""


def media_reason(exc: BaseException) -> str:
    """What FFmpeg (through PyAV) or the system said about a media file, without the error number
    and the path that `str(exc)` repeats ("[Errno 1094995529] Invalid data found when processing
    input: '/path'"): messages name the file themselves."""
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else str(exc)
