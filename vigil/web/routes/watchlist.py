"""The watchlist registry: people to look for and their reference photos.

Operators and admins read it (they judge alerts against it); only admins enrol, add photos, add a
visitor or remove someone. Photos come as multipart uploads, each checked for one usable face;
these routes alone accept bodies up to `watchlist.max_upload_mb` (SecurityMiddleware)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigil.errors import InvalidError
from vigil.watchlist.alerts import AlertNotFound
from vigil.watchlist.errors import PhotoRefused, RefusalReason
from vigil.watchlist.learning import Lesson
from vigil.watchlist.repository import Person, Reference
from vigil.watchlist.service import Enrolment, Photo
from vigil.web.alert_views import AlertOut
from vigil.web.auth import Principal, require_admin, require_operator
from vigil.web.context import WebContext, get_ctx
from vigil.web.images import ImageSigner, image_file, media_type
from vigil.web.watchlist_host import WatchlistHost

router = APIRouter(prefix="/api/watchlist", tags=["watchlist"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Operator = Annotated[Principal, Depends(require_operator)]
Admin = Annotated[Principal, Depends(require_admin)]
PersonId = Annotated[uuid.UUID, Path(description="The watchlist person's id")]
MAX_PHOTOS = 20  # per request
Photos = Annotated[
    list[UploadFile], File(description=f"JPEG, PNG or WebP photos of the person (1 to {MAX_PHOTOS})")
]


class PersonOut(BaseModel):
    id: uuid.UUID
    name: str
    notes: str
    category: str
    created_at: datetime
    references: int = Field(description="How many reference faces are enrolled")

    @classmethod
    def of(cls, p: Person) -> PersonOut:
        return cls(
            id=p.id, name=p.name, notes=p.notes, category=p.category, created_at=p.created_at,
            references=p.references,
        )  # fmt: skip


class ReferenceOut(BaseModel):
    id: uuid.UUID
    model: str = Field(description="The embedder model of its vector")
    quality: float
    source: str = Field(description="photo (an upload or file) or visitor (a visitor's crop)")
    created_at: datetime
    crop_url: str | None = Field(description="Signed, expiring URL of the face crop")
    thumb_url: str | None

    @classmethod
    def of(cls, r: Reference, sign: ImageSigner) -> ReferenceOut:
        return cls(
            id=r.id, model=r.model, quality=round(r.quality, 4), source=r.source, created_at=r.created_at,
            crop_url=sign.url(r.crop_path), thumb_url=sign.url(r.crop_path, thumb=True),
        )  # fmt: skip


class PersonDetailOut(PersonOut):
    photos: list[ReferenceOut]


class PeopleOut(BaseModel):
    people: list[PersonOut]


class RefusalOut(BaseModel):
    photo: str = Field(description="The photo's file name (or the visitor sighting)")
    reason: RefusalReason
    message: str


class EnrolmentOut(BaseModel):
    person: PersonOut
    accepted: int = Field(description="Photos that became references")
    refused: list[RefusalOut] = Field(description="Photos that did not, each with its reason")

    @classmethod
    def of(cls, e: Enrolment) -> EnrolmentOut:
        return cls(
            person=PersonOut.of(e.person), accepted=e.accepted, refused=[_refusal(r) for r in e.refused]
        )


class FromVisitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200, description="Default: the visitor's name, else 'visitor <id>'")
    notes: str = Field("", max_length=2000)
    category: str = Field("", max_length=64)


class LessonOut(BaseModel):
    alert_id: uuid.UUID | None = Field(description="The rejected alert that taught it")
    faces: int = Field(description="Faces of that alert's track kept as negatives of the person")
    rejected_by: str
    learned_at: datetime
    alert: AlertOut | None = Field(description="The rejected alert (crop, camera, times, note), if kept")


class LessonsOut(BaseModel):
    person_id: uuid.UUID
    lessons: list[LessonOut] = Field(description="Newest first, one per rejected alert")


class LessonUndoneOut(BaseModel):
    alert_id: uuid.UUID
    negatives_removed: int = Field(description="Negatives forgotten: that look-alike may alert again")


class RemovedOut(BaseModel):
    id: uuid.UUID
    files_removed: int = Field(description="Reference and alert crops erased from disk")


def _refusal(r: PhotoRefused) -> RefusalOut:
    return RefusalOut(photo=r.photo, reason=r.reason, message=str(r))


async def _read(photos: list[UploadFile], max_mb: float) -> list[Photo]:
    """The uploads' bytes; a photo above the limit is read only up to it (and then refused)."""
    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise InvalidError(f"send between 1 and {MAX_PHOTOS} photos, not {len(photos)}")
    limit = int(max_mb * 1024 * 1024) + 1
    return [Photo(p.filename or f"photo {i + 1}", await p.read(limit)) for i, p in enumerate(photos)]


def _name(text: str) -> str:
    name = text.strip()
    if not name:
        raise InvalidError("the person's name is empty")
    return name


@router.get("", response_model=PeopleOut, summary="Everyone on the watchlist, by name (operator or admin)")
def list_people(ctx: Ctx, _: Operator) -> PeopleOut:
    return PeopleOut(people=[PersonOut.of(p) for p in ctx.watchlist.people.people()])


@router.post(
    "",
    response_model=EnrolmentOut,
    status_code=201,
    summary="Enrol a person from photos (admin)",
    responses={422: {"description": "No usable photo: `refused` lists each photo's reason"}},
)
async def enrol(
    ctx: Ctx,
    _: Admin,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    photos: Photos,
    notes: Annotated[str, Form(max_length=2000)] = "",
    category: Annotated[str, Form(max_length=64)] = "",
) -> EnrolmentOut:
    """Multipart form: `name`, optional `notes` and `category`, and `photos` (repeated). Each photo
    must show exactly one usable face; refused ones are listed with a reason code. 422 when none is
    usable (the answer's `refused` lists why)."""
    host = ctx.watchlist
    read = await _read(photos, host.config.max_photo_mb)
    enrolment = await run_in_threadpool(host.enrol, _name(name), read, notes, category)
    return EnrolmentOut.of(enrolment)


@router.post(
    "/from-visitor/{visitor_id}",
    response_model=EnrolmentOut,
    status_code=201,
    summary="Add a visitor to the watchlist: their best crops become references (admin)",
    responses={404: {"description": "No such visitor"}, 422: {"description": "No usable crop"}},
)
async def enrol_visitor(
    visitor_id: Annotated[uuid.UUID, Path(description="The visitor's id")],
    ctx: Ctx,
    _: Admin,
    body: FromVisitorIn | None = None,
) -> EnrolmentOut:
    given = body or FromVisitorIn()
    host = ctx.watchlist
    enrolment = await run_in_threadpool(
        host.enrol_visitor, visitor_id, given.name.strip(), given.notes, given.category
    )
    return EnrolmentOut.of(enrolment)


@router.get("/{person_id}", response_model=PersonDetailOut, summary="One person with their reference photos")
def get_person(person_id: PersonId, ctx: Ctx, _: Operator) -> PersonDetailOut:
    host = ctx.watchlist
    person = host.people.get(person_id)
    refs = [ReferenceOut.of(r, host.images) for r in host.people.references(person_id)]
    return PersonDetailOut(**PersonOut.of(person).model_dump(), photos=refs)


@router.get(
    "/{person_id}/lessons",
    response_model=LessonsOut,
    summary="What rejected alerts taught about a person (operator or admin)",
    responses={404: {"description": "No such person"}},
)
def lessons(person_id: PersonId, ctx: Ctx, _: Operator) -> LessonsOut:
    """Each rejected alert of the person turned its track's faces into negatives: a later face
    nearer to them than to the person's references raises no alert for this person."""
    host = ctx.watchlist
    return LessonsOut(
        person_id=person_id, lessons=[_lesson(host, lesson) for lesson in host.lessons(person_id)]
    )


def _lesson(host: WatchlistHost, lesson: Lesson) -> LessonOut:
    alert = None
    if lesson.alert_id is not None:
        with contextlib.suppress(AlertNotFound):
            alert = AlertOut.of(host.alerts.get(lesson.alert_id), host.images)
    return LessonOut(
        alert_id=lesson.alert_id, faces=lesson.faces, rejected_by=lesson.created_by,
        learned_at=lesson.created_at, alert=alert,
    )  # fmt: skip


@router.delete(
    "/{person_id}/lessons/{alert_id}",
    response_model=LessonUndoneOut,
    summary="Forget what one rejected alert taught (admin)",
    responses={404: {"description": "No such person, or that alert taught them nothing"}},
)
def undo_lesson(
    person_id: PersonId,
    alert_id: Annotated[uuid.UUID, Path(description="The rejected alert's id")],
    ctx: Ctx,
    _: Admin,
) -> LessonUndoneOut:
    """The alert's faces stop being negatives of the person (a rejection made by mistake); the
    alert itself stays rejected."""
    removed = ctx.watchlist.undo_lesson(person_id, alert_id)
    return LessonUndoneOut(alert_id=alert_id, negatives_removed=removed)


@router.post(
    "/{person_id}/photos",
    response_model=EnrolmentOut,
    summary="More reference photos for a person (admin)",
    responses={404: {"description": "No such person"}, 422: {"description": "No usable photo"}},
)
async def add_photos(person_id: PersonId, ctx: Ctx, _: Admin, photos: Photos) -> EnrolmentOut:
    host = ctx.watchlist
    read = await _read(photos, host.config.max_photo_mb)
    return EnrolmentOut.of(await run_in_threadpool(host.add_photos, person_id, read))


@router.delete("/{person_id}", response_model=RemovedOut, summary="Erase a person and their alerts (admin)")
def remove_person(person_id: PersonId, ctx: Ctx, _: Admin) -> RemovedOut:
    """Their photos, embeddings and alerts (open or decided) are erased: no row or file is left."""
    return RemovedOut(id=person_id, files_removed=ctx.watchlist.remove(person_id))


@router.get(
    "/images/{token}",
    response_class=FileResponse,
    summary="A reference or alert crop, through a signed URL (operator or admin)",
    responses={
        200: {"content": {"image/webp": {}}, "description": "The image"},
        403: {"description": "Invalid signature or path"},
        404: {"description": "The image no longer exists"},
        410: {"description": "The link expired: fetch a fresh URL"},
    },
)
def get_image(token: Annotated[str, Path(max_length=2000)], ctx: Ctx, _: Operator) -> Response:
    """URLs come from the watchlist and alert routes; they expire after `web.image_url_ttl_s` s."""
    sign = ctx.watchlist.images
    ref = sign.read(token)  # forged: 403, expired: 410 (vigil.web.errors)
    try:
        path = image_file(ctx.watchlist.people.crops, ref)
    except ValueError as exc:
        raise HTTPException(403, "this image link points outside the watchlist directory") from exc
    if path is None:
        raise HTTPException(404, "this image no longer exists (person removed)")
    headers = {"Cache-Control": f"private, max-age={ref.seconds_left(sign.clock())}"}
    return FileResponse(path, media_type=media_type(path), headers=headers)
