"""The watchlist pages (operators and admins; viewers get 403): `/watchlist` (people, and the
admin's enrolment form), `/watchlist/{person_id}` (reference photos, what rejections taught, the
admin's photo, undo and removal actions) and `/alerts` (filters, live list, decisions).

The pages render what they show from the registry; their scripts (static/watchlist.js,
static/alerts.js) act through the JSON API, so every rule (roles, CSRF, limits, audit) is the API's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, get_args

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from vigil.watchlist.alerts import AlertNotFound, Status
from vigil.watchlist.errors import PersonNotFound, RefusalReason
from vigil.watchlist.learning import Lesson
from vigil.watchlist.matching import Level
from vigil.watchlist.repository import Person
from vigil.web.auth import Principal
from vigil.web.context import WebContext, get_ctx
from vigil.web.templating import TEMPLATES, page_viewer, render
from vigil.web.watchlist_host import WatchlistHost

pages = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_ctx)]
STATUSES: tuple[Status, ...] = get_args(Status)
LEVELS: tuple[Level, ...] = get_args(Level)
# The photo check's refusal codes, for every page that shows refusals (refusal_texts.html),
# the visitor page included.
TEMPLATES.env.globals["refusal_reasons"] = get_args(RefusalReason)


def page_operator(request: Request) -> Principal:
    """Pages: operators and admins; anonymous visitors go to the login form, viewers get 403."""
    principal = page_viewer(request)
    if not principal.sees_alerts:
        raise HTTPException(403, "this page needs the operator or admin role")
    return principal


Operator = Annotated[Principal, Depends(page_operator)]


@dataclass(frozen=True)
class PersonCard:
    person: Person
    thumb_url: str | None  # the best reference's thumbnail


@dataclass(frozen=True)
class LessonRow:
    lesson: Lesson
    camera: str | None
    seen_at: str | None  # ISO time the rejected alert was first seen
    note: str
    thumb_url: str | None


def _card(host: WatchlistHost, person: Person) -> PersonCard:
    references = sorted(host.people.references(person.id), key=lambda r: -r.quality)
    thumb = host.images.url(references[0].crop_path, thumb=True) if references else None
    return PersonCard(person, thumb)


@pages.get("/watchlist", response_class=HTMLResponse)
def watchlist_page(request: Request, ctx: Ctx, _: Operator) -> Response:
    host = ctx.watchlist
    cards = [_card(host, person) for person in host.people.people()]
    return render(request, "watchlist.html", cards=cards)


@pages.get("/watchlist/{person_id}", response_class=HTMLResponse)
def person_page(
    request: Request,
    ctx: Ctx,
    _: Operator,
    person_id: Annotated[uuid.UUID, Path(description="The watchlist person's id")],
) -> Response:
    host = ctx.watchlist
    try:
        person = host.people.get(person_id)
    except PersonNotFound:
        return render(request, "watchlist_person.html", 404, person=None)
    photos = [
        (r, host.images.url(r.crop_path), host.images.url(r.crop_path, thumb=True))
        for r in host.people.references(person_id)
    ]
    return render(
        request, "watchlist_person.html", person=person, photos=photos,
        lessons=[_lesson_row(host, lesson) for lesson in host.lessons(person_id)],
    )  # fmt: skip


def _lesson_row(host: WatchlistHost, lesson: Lesson) -> LessonRow:
    if lesson.alert_id is None:
        return LessonRow(lesson, None, None, "", None)
    try:
        alert = host.alerts.get(lesson.alert_id)
    except AlertNotFound:
        return LessonRow(lesson, None, None, "", None)
    thumb = host.images.url(alert.crop_path, thumb=True)
    return LessonRow(lesson, alert.camera, alert.first_at.isoformat(), alert.note, thumb)


@pages.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    ctx: Ctx,
    _: Operator,
    camera: Annotated[str, Query(max_length=200)] = "",
    level: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    person: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The list itself is loaded by static/alerts.js from /api/alerts with the same filters and kept
    up to date from the alert stream; unknown filter values are ignored, not refused."""
    cameras = sorted({c.name for c in ctx.cameras.cameras()} | ({camera} if camera else set()))
    who = _person(ctx.watchlist, person)
    chosen = {
        "camera": camera,
        "level": level if level in LEVELS else "",
        "status": status if status in STATUSES else "",
        "person": str(who.id) if who else "",
    }
    return render(
        request, "alerts.html", cameras=cameras, levels=LEVELS, statuses=STATUSES, chosen=chosen, person=who
    )


def _person(host: WatchlistHost, text: str) -> Person | None:
    try:
        return host.people.get(uuid.UUID(text)) if text else None
    except (ValueError, PersonNotFound):
        return None
