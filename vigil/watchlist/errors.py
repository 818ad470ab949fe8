"""Typed errors of the watchlist; their `status` is the HTTP status the API answers with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from vigil.errors import ConflictError, InvalidError, NotFoundError

# Why a reference photo was refused, as a stable code the UI and scripts can act on.
RefusalReason = Literal[
    "too_large",
    "not_an_image",
    "too_many_pixels",
    "no_face",
    "several_faces",
    "face_too_small",
    "blurred",
    "not_frontal",
]


class PersonNotFound(NotFoundError):
    def __init__(self, what: str) -> None:
        super().__init__(f"no watchlist person {what}")


class AmbiguousPerson(ConflictError):
    """A name given where an id is needed names several people."""

    def __init__(self, name: str, count: int) -> None:
        super().__init__(f"{count} watchlist people are named {name!r}: use the id")


class PhotoRefused(InvalidError):
    """A reference photo that cannot be used; `reason` says why, the message says what to do."""

    def __init__(self, reason: RefusalReason, message: str, photo: str = "") -> None:
        super().__init__(f"{photo}: {message}" if photo else message)
        self.reason: RefusalReason = reason
        self.photo = photo


class NoUsablePhoto(InvalidError):
    """Enrolment needs at least one accepted reference photo; `refused` says why each was refused."""

    def __init__(self, message: str, refused: Sequence[PhotoRefused] = ()) -> None:
        super().__init__(message)
        self.refused = list(refused)

    def details(self) -> dict[str, object]:
        return {"refused": [{"photo": r.photo, "reason": r.reason, "message": str(r)} for r in self.refused]}
