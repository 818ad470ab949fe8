"""The visitors area: recurring visitors ("clients fidèles") and identity repairs.

- API under `/api/visitors` (list, loyal, detail, sightings; admin: rename, merge, split, erase) and
  the signed image route `/api/images/{token}` (crops are only served through signed URLs);
- pages `/visitors` (filters, cards, pagination) and `/visitors/{id}` (timeline, admin forms that
  post to `/visitors/{id}/{action}` and redirect back with a message code).

Days are local calendar days of the server, as in `vigil visitors`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import QueryParams

from vigil.errors import RepairRefused, VisitorNotFound
from vigil.store.analytics import (
    MAX_WINDOW_DAYS,
    WINDOW_PATTERN,
    SightingRow,
    SortKey,
    VisitorPage,
    VisitorRecord,
    VisitorSummary,
    local_tz,
    parse_window,
)
from vigil.web.auth import Principal, require_admin, require_viewer
from vigil.web.context import WebContext, get_ctx
from vigil.web.i18n import translator
from vigil.web.images import ImageSigner, image_file, media_type
from vigil.web.templating import language_of, page_admin, page_viewer, render

router = APIRouter()
api = APIRouter(prefix="/api/visitors", tags=["visitors"])
images = APIRouter(prefix="/api/images", tags=["images"])
pages = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
Admin = Annotated[Principal, Depends(require_admin)]
VisitorId = Annotated[uuid.UUID, Path(description="Visitor id (UUID)")]
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)  # keeps day arithmetic far from overflow
CARDS_PER_PAGE = 24
SIGHTINGS_PER_PAGE = 50


# ------------------------------------------------------------------------------ shared
@dataclass(frozen=True)
class Filters:
    loyal: bool = False
    min_visits: int = 1
    window_days: int = 7
    day: date | None = None  # None: today
    sort: SortKey = "arrival"


def summaries(ctx: WebContext, filters: Filters, limit: int, offset: int) -> tuple[date, VisitorPage]:
    tz = local_tz()
    day = filters.day or datetime.now(tz).date()
    page = ctx.store.visitors.summaries(
        day, tz, window_days=filters.window_days, min_visits=filters.min_visits, loyal=filters.loyal,
        sort=filters.sort, limit=limit, offset=offset,
    )  # fmt: skip
    return day, page


# ------------------------------------------------------------------------------ API models
class PhotoUrls(BaseModel):
    url: str = Field(description="Signed URL of the full crop (expires: see web.image_url_ttl_s)")
    thumb_url: str = Field(description="Signed URL of its thumbnail")


def photo_urls(sign: ImageSigner, relative: str | None) -> PhotoUrls | None:
    url, thumb = sign.url(relative), sign.url(relative, thumb=True)
    return PhotoUrls(url=url, thumb_url=thumb) if url and thumb else None


class VisitorOut(BaseModel):
    visitor_id: uuid.UUID
    name: str | None
    reference_photo: PhotoUrls | None = Field(description="Best-quality crop ever captured")
    today_photo: PhotoUrls | None = Field(description="Best crop of the requested day")
    visits_in_window: int
    past_visits: int = Field(description="Visits in the window before the requested day")
    frequency: str = Field(description='e.g. "seen 3 times this week" (English; pages are localised)')
    arrival: datetime | None = Field(description="First sighting on the requested day (server's local time)")
    cameras: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    visit_count: int

    @classmethod
    def of(cls, s: VisitorSummary, sign: ImageSigner) -> VisitorOut:
        return cls(
            visitor_id=s.visitor_id, name=s.name, reference_photo=photo_urls(sign, s.reference_photo),
            today_photo=photo_urls(sign, s.today_photo), visits_in_window=s.visits_in_window,
            past_visits=s.past_visits, frequency=s.frequency, arrival=s.arrival, cameras=s.cameras,
            first_seen_at=s.first_seen_at, last_seen_at=s.last_seen_at, visit_count=s.visit_count,
        )  # fmt: skip


class VisitorListOut(BaseModel):
    date: date
    window_days: int
    loyal: bool
    min_visits: int
    total: int
    limit: int
    offset: int
    items: list[VisitorOut]


class VisitorDetailOut(BaseModel):
    visitor_id: uuid.UUID
    name: str | None
    label: str | None
    reference_photo: PhotoUrls | None
    first_seen_at: datetime
    last_seen_at: datetime
    visit_count: int
    sighting_count: int
    cameras: list[str]

    @classmethod
    def of(cls, r: VisitorRecord, sign: ImageSigner) -> VisitorDetailOut:
        return cls(
            visitor_id=r.visitor_id, name=r.name, label=r.label,
            reference_photo=photo_urls(sign, r.reference_photo), first_seen_at=r.first_seen_at,
            last_seen_at=r.last_seen_at, visit_count=r.visit_count, sighting_count=r.sighting_count,
            cameras=r.cameras,
        )  # fmt: skip


class SightingOut(BaseModel):
    sighting_id: uuid.UUID
    captured_at: datetime
    camera: str | None
    track_id: int
    quality: float
    similarity: float | None = Field(description="Similarity to the visitor when assigned (None: founded it)")
    model: str
    photo: PhotoUrls | None

    @classmethod
    def of(cls, r: SightingRow, sign: ImageSigner) -> SightingOut:
        return cls(
            sighting_id=r.sighting_id, captured_at=r.captured_at, camera=r.camera, track_id=r.track_id,
            quality=r.quality, similarity=r.similarity, model=r.model, photo=photo_urls(sign, r.image_path),
        )  # fmt: skip


class SightingListOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[SightingOut]


class VisitorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200, description="Display name (null clears it)")
    label: str | None = Field(None, max_length=200, description="Free label, e.g. 'staff' (null clears it)")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    absorb: uuid.UUID = Field(description="Visitor merged into this one, then removed")


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sightings: list[uuid.UUID] = Field(
        min_length=1, max_length=1000, description="Sightings of this visitor that belong to another person"
    )


class SplitOut(BaseModel):
    visitor_id: uuid.UUID
    new_visitor_id: uuid.UUID
    moved: int


class ErasedOut(BaseModel):
    visitor_id: uuid.UUID
    files_removed: int


# ------------------------------------------------------------------------------ API routes
def query_filters(
    min_visits: Annotated[
        int, Query(ge=0, le=100_000, description="Visits needed (loyal: earlier visits in the window)")
    ] = 1,
    window: Annotated[
        str, Query(pattern=WINDOW_PATTERN, max_length=10, description="Window ending on the day: 7d, 2w, 30")
    ] = "7d",
    day: Annotated[
        date | None,
        Query(alias="date", description="Day, YYYY-MM-DD (server's local calendar; default today)"),
    ] = None,
    sort: Annotated[Literal["arrival", "visits", "last_seen"], Query()] = "arrival",
) -> Filters:
    days = parse_window(window)
    if days is None:
        raise HTTPException(422, f"window {window!r}: use e.g. 7d, 2w or 30, at most {MAX_WINDOW_DAYS} days")
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise HTTPException(422, f"date {day}: give a day between {FIRST_DAY} and {LAST_DAY}")
    return Filters(min_visits=min_visits, window_days=days, day=day, sort=sort)


Query_ = Annotated[Filters, Depends(query_filters)]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")]


def list_out(ctx: WebContext, filters: Filters, limit: int, offset: int) -> VisitorListOut:
    day, page = summaries(ctx, filters, limit, offset)
    sign = ctx.images
    return VisitorListOut(
        date=day, window_days=filters.window_days, loyal=filters.loyal, min_visits=filters.min_visits,
        total=page.total, limit=limit, offset=offset, items=[VisitorOut.of(s, sign) for s in page.items],
    )  # fmt: skip


@api.get("", response_model=VisitorListOut, summary="Visitors seen in a window")
def list_visitors(
    ctx: Ctx, _: Viewer, filters: Query_, limit: Limit = 50, offset: Offset = 0, loyal: bool = False
) -> VisitorListOut:
    """Visitors with at least `min_visits` visits in the window ending on `date`; with `loyal=true`,
    only those seen on `date` with at least `min_visits` earlier visits in the window."""
    return list_out(ctx, replace(filters, loyal=loyal), limit, offset)


@api.get("/loyal", response_model=VisitorListOut, summary="Loyal customers of the day")
def list_loyal(ctx: Ctx, _: Viewer, filters: Query_, limit: Limit = 50, offset: Offset = 0) -> VisitorListOut:
    """Seen on `date` AND at least `min_visits` visits before it in the window ("clients fidèles")."""
    return list_out(ctx, replace(filters, loyal=True), limit, offset)


@api.get("/{visitor_id}", response_model=VisitorDetailOut, summary="One visitor")
def get_visitor(visitor_id: VisitorId, ctx: Ctx, _: Viewer) -> VisitorDetailOut:
    return VisitorDetailOut.of(ctx.store.visitors.get(visitor_id), ctx.images)


@api.get("/{visitor_id}/sightings", response_model=SightingListOut, summary="A visitor's sighting timeline")
def get_sightings(
    visitor_id: VisitorId, ctx: Ctx, _: Viewer, limit: Limit = 50, offset: Offset = 0
) -> SightingListOut:
    """Newest first, with signed photo URLs."""
    record = ctx.store.visitors.get(visitor_id)
    sign = ctx.images
    rows = ctx.store.visitors.sightings(visitor_id, limit, offset)
    items = [SightingOut.of(r, sign) for r in rows]
    return SightingListOut(total=record.sighting_count, limit=limit, offset=offset, items=items)


@api.patch("/{visitor_id}", response_model=VisitorDetailOut, summary="Name or label a visitor (admin)")
def patch_visitor(visitor_id: VisitorId, body: VisitorPatch, ctx: Ctx, _: Admin) -> VisitorDetailOut:
    """Only the fields present in the body change; `null` clears one."""
    ctx.store.describe(visitor_id, body.model_dump(include=body.model_fields_set))
    return VisitorDetailOut.of(ctx.store.visitors.get(visitor_id), ctx.images)


@api.post(
    "/{visitor_id}/merge", response_model=VisitorDetailOut, summary="Merge another visitor into this one"
)
def merge_visitor(visitor_id: VisitorId, body: MergeIn, ctx: Ctx, _: Admin) -> VisitorDetailOut:
    """Two ids are the same person: `absorb`'s sightings move here and `absorb` disappears (admin)."""
    ctx.store.merge(visitor_id, body.absorb)
    return VisitorDetailOut.of(ctx.store.visitors.get(visitor_id), ctx.images)


@api.post("/{visitor_id}/split", response_model=SplitOut, status_code=201, summary="Split sightings off")
def split_visitor(visitor_id: VisitorId, body: SplitIn, ctx: Ctx, _: Admin) -> SplitOut:
    """The given sightings belong to another person: they become a new visitor (admin)."""
    new_id = ctx.store.split(visitor_id, body.sightings)
    return SplitOut(visitor_id=visitor_id, new_visitor_id=new_id, moved=len(set(body.sightings)))


@api.delete("/{visitor_id}", response_model=ErasedOut, summary="Erase a person (right to erasure)")
def erase_visitor(visitor_id: VisitorId, ctx: Ctx, _: Admin) -> ErasedOut:
    """Deletes every row and image of this person (admin)."""
    files = ctx.store.erase(visitor_id)
    return ErasedOut(visitor_id=visitor_id, files_removed=files)


@images.get(
    "/{token}",
    response_class=FileResponse,
    summary="A face crop, through a signed URL",
    responses={
        200: {"content": {"image/webp": {}, "image/jpeg": {}}, "description": "The image"},
        403: {"description": "Invalid signature or path"},
        404: {"description": "The image no longer exists"},
        410: {"description": "The link expired: fetch a fresh URL"},
    },
)
def get_image(token: Annotated[str, Path(max_length=2000)], ctx: Ctx, _: Viewer) -> Response:
    """URLs come from the visitor routes; they expire after `web.image_url_ttl_s` seconds."""
    sign = ctx.images
    ref = sign.read(token)  # a forged or expired token answers 403 or 410 (vigil.web.errors)
    try:
        path = image_file(ctx.store.crops, ref)
    except ValueError as exc:
        raise HTTPException(403, "this image link points outside the faces directory") from exc
    if path is None:
        raise HTTPException(404, "this image no longer exists (visitor erased or expired)")
    max_age = ref.seconds_left(sign.clock())
    headers = {"Cache-Control": f"private, max-age={max_age}"}
    return FileResponse(path, media_type=media_type(path), headers=headers)


# ------------------------------------------------------------------------------ pages
def frequency(t: Callable[..., str], visits: int, days: int) -> str:
    """The localised `frequency_text`: "Seen 3 times this week" / "Vu 3 fois cette semaine"."""
    times = t("visitors.times.one") if visits == 1 else t("visitors.times.many", n=visits)
    if days == 7:
        return t("visitors.freq.week", times=times)
    if days == 1:
        return t("visitors.freq.today", times=times)
    return t("visitors.freq.days", times=times, days=days)


@dataclass(frozen=True)
class PageQuery:
    filters: Filters
    window: str
    page: int
    invalid: list[str]

    def encoded(self) -> str:
        """The filters as a query string (for the pager links)."""
        f = self.filters
        values = {"f": "1", "min_visits": f.min_visits, "window": self.window, "sort": f.sort}
        if f.loyal:
            values["loyal"] = "on"
        if f.day:
            values["date"] = f.day.isoformat()
        return urlencode(values)


def _int_in(text: str | None, low: int, high: int) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def _day(text: str | None) -> date | None:
    try:
        day = date.fromisoformat(text or "")
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def page_query(params: QueryParams) -> PageQuery:
    """Filters from the page's GET form; invalid values fall back to the defaults (and are named)."""
    invalid: list[str] = []

    def pick(name: str, value: object | None, default: object) -> object:
        if params.get(name) not in (None, "") and value is None:
            invalid.append(name)
        return default if value is None else value

    # The form sends `f=1`: an absent `loyal` then means "unticked", not "default (ticked)".
    loyal = params.get("loyal") is not None if params.get("f") else True
    window = params.get("window") or "7d"
    days = parse_window(window)
    sort_text = params.get("sort")
    sort = sort_text if sort_text in ("arrival", "visits", "last_seen") else None
    filters = Filters(
        loyal=loyal,
        min_visits=int(str(pick("min_visits", _int_in(params.get("min_visits"), 0, 100_000), 1))),
        window_days=int(str(pick("window", days, 7))),
        day=_day(params.get("date")) if params.get("date") else None,
        sort=pick("sort", sort, "arrival"),  # type: ignore[arg-type]
    )
    if params.get("date") and filters.day is None:
        invalid.append("date")
    page = int(str(pick("page", _int_in(params.get("page"), 1, 1_000_000), 1)))
    return PageQuery(filters, window if days else "7d", page, invalid)


@dataclass(frozen=True)
class Card:
    summary: VisitorSummary
    reference: PhotoUrls | None
    today: PhotoUrls | None
    frequency: str


@pages.get("/visitors", response_class=HTMLResponse)
def visitors_page(request: Request, ctx: Ctx, _: Annotated[Principal, Depends(page_viewer)]) -> Response:
    query = page_query(request.query_params)
    offset = (query.page - 1) * CARDS_PER_PAGE
    day, result = summaries(ctx, query.filters, CARDS_PER_PAGE, offset)
    t, sign = translator(language_of(request)), ctx.images
    cards = [
        Card(s, photo_urls(sign, s.reference_photo), photo_urls(sign, s.today_photo),
             frequency(t, s.visits_in_window, query.filters.window_days))
        for s in result.items
    ]  # fmt: skip
    return render(
        request, "visitors.html", cards=cards, total=result.total, day=day, q=query,
        page=query.page, pages=max(1, -(-result.total // CARDS_PER_PAGE)), query=query.encoded(),
        done=request.query_params.get("done") if request.query_params.get("done") == "erased" else None,
    )  # fmt: skip


DONE_CODES = {"merged", "split", "renamed"}
ERROR_CODES = {"bad_id", "merge_self", "merge_unknown", "split_none", "split_all", "split_foreign", "confirm"}


def _visitor_id_or_404(request: Request, text: str) -> uuid.UUID | Response:
    try:
        return uuid.UUID(text)
    except ValueError:
        return render(request, "visitor.html", 404, record=None)


@pages.get("/visitors/{visitor_id}", response_class=HTMLResponse)
def visitor_page(
    visitor_id: str, request: Request, ctx: Ctx, _: Annotated[Principal, Depends(page_viewer)]
) -> Response:
    parsed = _visitor_id_or_404(request, visitor_id)
    if isinstance(parsed, Response):
        return parsed
    record = ctx.store.visitors.find(parsed)
    if record is None:
        return render(request, "visitor.html", 404, record=None)
    page = _int_in(request.query_params.get("page"), 1, 1_000_000) or 1
    sign, tz = ctx.images, local_tz()
    rows = ctx.store.visitors.sightings(parsed, SIGHTINGS_PER_PAGE, (page - 1) * SIGHTINGS_PER_PAGE)
    params = request.query_params
    new_id = _uuid_or_none(params.get("new"))
    return render(
        request, "visitor.html", record=record, reference=photo_urls(sign, record.reference_photo),
        sightings=[(r, r.captured_at.astimezone(tz), photo_urls(sign, r.image_path)) for r in rows],
        first_seen=record.first_seen_at.astimezone(tz), last_seen=record.last_seen_at.astimezone(tz),
        page=page, pages=max(1, -(-record.sighting_count // SIGHTINGS_PER_PAGE)), query="",
        done=params.get("done") if params.get("done") in DONE_CODES else None,
        error=params.get("error") if params.get("error") in ERROR_CODES else None, new_id=new_id,
    )  # fmt: skip


def _uuid_or_none(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        return None


def _back(visitor_id: uuid.UUID, **params: str) -> RedirectResponse:
    return RedirectResponse(f"/visitors/{visitor_id}?{urlencode(params)}", status_code=303)


PageAdmin = Annotated[Principal, Depends(page_admin)]


@pages.post("/visitors/{visitor_id}/rename")
def rename_form(
    visitor_id: VisitorId,
    ctx: Ctx,
    _: PageAdmin,
    name: Annotated[str, Form(max_length=200)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx.store.describe(visitor_id, {"name": name.strip() or None, "label": label.strip() or None})
    return _back(visitor_id, done="renamed")


@pages.post("/visitors/{visitor_id}/merge")
def merge_form(
    visitor_id: VisitorId, ctx: Ctx, _: PageAdmin, absorb: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    other = _uuid_or_none(absorb.strip())
    if other is None:
        return _back(visitor_id, error="bad_id")
    try:
        ctx.store.merge(visitor_id, other)
    except RepairRefused as exc:
        return _back(visitor_id, error=exc.code)
    except VisitorNotFound as exc:
        if exc.visitor_id != other:
            raise  # this page's visitor is gone: the API's 404
        return _back(visitor_id, error="merge_unknown")
    return _back(visitor_id, done="merged")


@pages.post("/visitors/{visitor_id}/split")
def split_form(
    visitor_id: VisitorId,
    ctx: Ctx,
    _: PageAdmin,
    sightings: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    ids = [_uuid_or_none(s) for s in sightings]
    if not ids:
        return _back(visitor_id, error="split_none")
    if None in ids:
        return _back(visitor_id, error="split_foreign")
    try:
        new_id = ctx.store.split(visitor_id, [i for i in ids if i is not None])
    except RepairRefused as exc:
        return _back(visitor_id, error=exc.code)
    return _back(visitor_id, done="split", new=str(new_id))


@pages.post("/visitors/{visitor_id}/erase")
def erase_form(
    visitor_id: VisitorId, ctx: Ctx, _: PageAdmin, confirm: Annotated[str, Form(max_length=10)] = ""
) -> Response:
    if confirm != "yes":
        return _back(visitor_id, error="confirm")
    ctx.store.erase(visitor_id)
    return RedirectResponse("/visitors?done=erased", status_code=303)


for part in (api, images, pages):
    router.include_router(part)
