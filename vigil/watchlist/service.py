"""Enrolment: photos checked and embedded, then stored as one person's references. Shared by the
CLI, the API and the UI, over the same data directory as `vigil watch`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from vigil.config import VigilSettings
from vigil.detect import create_detector
from vigil.embed import FaceEmbedder, create_embedder
from vigil.live.events import EventSink
from vigil.store.crops import CropStore
from vigil.store.database import Database, connect
from vigil.watchlist.alerts import AlertRepository
from vigil.watchlist.errors import NoUsablePhoto, PhotoRefused
from vigil.watchlist.monitor import WatchlistMonitor
from vigil.watchlist.photos import PhotoChecker
from vigil.watchlist.repository import NewReference, Person, WatchlistRepository

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass(frozen=True)
class Photo:
    """An uploaded or read photo: its label (file name) and encoded bytes."""

    label: str
    data: bytes


@dataclass(frozen=True)
class Enrolment:
    person: Person
    accepted: int
    refused: list[PhotoRefused] = field(default_factory=list)


def watchlist_dir(settings: VigilSettings) -> Path:
    return settings.data_dir / "watchlist"


class Watchlist:
    """The registry over one database; the detector and embedder load on first enrolment."""

    def __init__(self, settings: VigilSettings, db: Database, embedder: FaceEmbedder | None = None) -> None:
        self.settings = settings
        self.repository = WatchlistRepository(db, watchlist_dir(settings))
        self._embedder = embedder

    @classmethod
    def open(cls, settings: VigilSettings, url: str | None = None) -> Watchlist:
        return cls(settings, connect(url or settings.resolved_db_url))

    def close(self) -> None:
        self.release_models()
        self.repository.db.dispose()

    def release_models(self) -> None:
        """Closes the photo embedder this registry created (not one it was given)."""
        if "checker" in self.__dict__ and self._embedder is None:
            self.checker.embedder.close()

    @cached_property
    def checker(self) -> PhotoChecker:
        settings = self.settings
        detector = create_detector(settings.detector, settings.model_search_dirs())
        embedder = self._embedder or create_embedder(settings.embedder, settings.use_gpu)
        return PhotoChecker(detector, embedder, settings.watchlist, settings.quality)

    def check(self, photos: Iterable[Photo]) -> tuple[list[NewReference], list[PhotoRefused]]:
        """Each photo's reference, or why it was refused (refusals carry the photo's label)."""
        accepted: list[NewReference] = []
        refused: list[PhotoRefused] = []
        for photo in photos:
            try:
                accepted.append(self.checker.reference(photo.data))
            except PhotoRefused as exc:
                refused.append(PhotoRefused(exc.reason, str(exc), photo.label))
        return accepted, refused

    def enrol(self, name: str, photos: Sequence[Photo], notes: str = "", category: str = "") -> Enrolment:
        """A new person from their photos; NoUsablePhoto (with every reason) when none is usable."""
        accepted, refused = self.check(photos)
        if not accepted:
            reasons = "; ".join(str(r) for r in refused) or "no photo given"
            raise NoUsablePhoto(f"no usable photo of {name!r}: {reasons}", refused)
        person = self.repository.add_person(name, accepted, notes, category)
        return Enrolment(person, len(accepted), refused)

    def import_dir(
        self, root: Path, on_person: Callable[[str], None] = lambda name: None
    ) -> list[Enrolment | NoUsablePhoto]:
        """One person per sub-folder (the folder name is the name), like media/faces/people/."""
        results: list[Enrolment | NoUsablePhoto] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            on_person(folder.name)
            try:
                results.append(self.enrol(folder.name, read_photos(sorted(folder.iterdir()))))
            except NoUsablePhoto as exc:
                results.append(exc)
        return results


def read_photos(paths: Iterable[Path]) -> list[Photo]:
    """The image files among `paths` (by suffix; their content is checked when decoded)."""
    return [
        Photo(p.name, p.read_bytes()) for p in paths if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
    ]


def live_monitor(
    settings: VigilSettings, model: str, listeners: Sequence[EventSink], url: str | None = None
) -> WatchlistMonitor:
    """The watchlist stage of a camera host, on its own connection to the store's database; a
    ConfigError when the thresholds cannot work with the embedder `model`."""
    db = connect(url or settings.resolved_db_url)
    root = watchlist_dir(settings)
    try:
        return WatchlistMonitor(
            WatchlistRepository(db, root),
            AlertRepository(db, CropStore(root), outbox=settings.watchlist.upr_enabled),
            settings.watchlist,
            model,
            listeners,
        )
    except BaseException:
        db.dispose()
        raise
