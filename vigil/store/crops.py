"""Face crops on disk: `<faces_dir>/YYYY/MM/DD/<uuid>.webp` plus a `<uuid>_thumb.webp` for the UI.

Rows store paths relative to `faces_dir`. Files are written atomically (temp file + rename) so
a reader never sees half an image; a crash between the file and its row leaves an orphan that
`remove_orphans` deletes at the next start."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

import cv2

from vigil.private_files import make_private_dir, write_private_bytes
from vigil.types import Image

log = logging.getLogger(__name__)
CropFormat = Literal["webp", "jpeg"]
_EXT = {"webp": ".webp", "jpeg": ".jpg"}
VISITORS_SUBDIR = "visitors"


class CropStore:
    def __init__(self, root: Path, fmt: CropFormat = "webp", quality: int = 90, thumb_px: int = 96) -> None:
        self.root = root
        self.fmt = fmt
        self.quality = quality
        self.thumb_px = thumb_px

    def sighting_path(self, sighting_id: uuid.UUID, captured_at: datetime) -> str:
        return f"{captured_at:%Y/%m/%d}/{sighting_id}{_EXT[self.fmt]}"

    def visitor_path(self, visitor_id: uuid.UUID) -> str:
        """The reference photo is a copy, so it outlives sighting retention when prototypes are kept."""
        return f"{VISITORS_SUBDIR}/{visitor_id}{_EXT[self.fmt]}"

    def save(self, relative: str, image: Image) -> str:
        target = self.resolve(relative)
        make_private_dir(target.parent)  # face crops are biometric data: 0700 dirs, 0600 files
        self._write(target, image)
        self._write(thumbnail_of(target), self._thumbnail(image))
        return relative

    def delete(self, relatives: Iterable[str | None]) -> int:
        removed = 0
        for relative in relatives:
            if not relative:
                continue
            for path in (self.resolve(relative), thumbnail_of(self.resolve(relative))):
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def resolve(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"crop path {relative!r} escapes {self.root}")
        return path

    def all_files(self) -> list[str]:
        if not self.root.exists():
            return []
        return [
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not _is_thumbnail(p)
        ]

    def remove_orphans(self, referenced: set[str], grace_s: float) -> int:
        """Delete crops (and temp files) that no row references and are older than `grace_s`."""
        cutoff = time.time() - grace_s
        removed = 0
        if not self.root.exists():
            return 0
        for path in list(self.root.rglob("*")):
            if not path.is_file() or path.stat().st_mtime > cutoff:
                continue
            relative = path.relative_to(self.root).as_posix()
            main = relative.replace("_thumb.", ".") if _is_thumbnail(path) else relative
            if ".tmp" in path.name or main not in referenced:
                path.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("removed %d orphan face crop files from %s", removed, self.root)
        return removed

    def _thumbnail(self, image: Image) -> Image:
        h, w = image.shape[:2]
        scale = self.thumb_px / max(h, w)
        if scale >= 1:
            return image
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def _write(self, target: Path, image: Image) -> None:
        params = (
            [cv2.IMWRITE_WEBP_QUALITY, self.quality]
            if self.fmt == "webp"
            else [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        )
        ok, data = cv2.imencode(_EXT[self.fmt], image, params)
        if not ok:
            raise OSError(f"could not encode face crop {target}")
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        write_private_bytes(temp, data.tobytes())
        os.replace(temp, target)


def thumbnail_of(path: Path) -> Path:
    return path.with_name(f"{path.stem}_thumb{path.suffix}")


def _is_thumbnail(path: Path) -> bool:
    return path.stem.endswith("_thumb")
