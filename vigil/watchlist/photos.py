"""Reference photos: read safely (sniffed by content, size-limited, no decompression bombs), then
checked for exactly one usable face (size, sharpness, pose from `vigil.live.quality`) and embedded.

Pillow reads the header first, so the pixel count is known before any pixel is decoded; it also
applies the EXIF orientation of phone photos, which OpenCV's decoder would need help with."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from vigil.config import QualityConfig
from vigil.detect.base import FaceDetector
from vigil.embed.base import FaceCrop, FaceEmbedder
from vigil.live.quality import face_quality
from vigil.types import FloatArray, Image
from vigil.watchlist.config import WatchlistConfig
from vigil.watchlist.errors import PhotoRefused
from vigil.watchlist.repository import NewReference

FORMATS = {"JPEG", "PNG", "WEBP"}


@dataclass(frozen=True)
class PhotoChecker:
    detector: FaceDetector
    embedder: FaceEmbedder
    config: WatchlistConfig
    quality: QualityConfig

    def reference(self, data: bytes, source: str = "photo") -> NewReference:
        """The one face of an encoded photo as a reference, or PhotoRefused saying why."""
        return self.reference_of_image(decode_photo(data, self.config), source)

    def reference_of_image(self, image: Image, source: str) -> NewReference:
        found = self.detector.detect(image)
        found = found[found.score >= self.config.min_face_score]
        if len(found) == 0:
            raise PhotoRefused("no_face", "no face found: use a photo where the face is clearly visible")
        sides = np.minimum(found.xyxy[:, 2] - found.xyxy[:, 0], found.xyxy[:, 3] - found.xyxy[:, 1])
        usable = np.flatnonzero(sides >= self.config.min_face_px)
        if len(usable) > 1:
            raise PhotoRefused(
                "several_faces", f"{len(usable)} faces found: crop the photo to the one person to enrol"
            )
        if len(usable) == 0:
            raise PhotoRefused(
                "face_too_small",
                f"the face is {int(sides.max())} px across, at least {self.config.min_face_px} px is "
                "needed: use a larger or closer photo",
            )
        index = int(usable[0])
        box = found.xyxy[index]
        landmarks = None if found.landmarks is None else found.landmarks[index]
        parts = face_quality(image, box, landmarks, float(found.score[index]), self.quality)
        sharpness = reference_sharpness(image, box)
        if sharpness < self.config.min_sharpness:
            raise PhotoRefused(
                "blurred", f"the face is blurred (sharpness {sharpness:.2f} < {self.config.min_sharpness})"
            )
        if parts.frontality < self.config.min_frontality:
            raise PhotoRefused(
                "not_frontal",
                f"the face is turned or tilted (frontality {parts.frontality:.2f} < "
                f"{self.config.min_frontality}): use a frontal photo",
            )
        crop = FaceCrop.cut(image, box, landmarks)
        embedding = self.embedder.embed(crop)
        return NewReference(embedding.vector, embedding.model, crop.image, parts.total, source)


def reference_sharpness(image: Image, box: FloatArray) -> float:
    """v / (v + 40), v the variance of the Laplacian of the face at 150x150 grey, the size the
    embedder sees. The live quality term measures at 64x64, where CCTV faces live; at that size a
    reference photo blurred by 3 px still looks sharp. Sharp photos of the shared set give v >= 64,
    a 240 px face blurred with sigma 3 gives 28."""
    x0, y0, x1, y1 = (max(0, round(v)) for v in box)
    face = image[y0:y1, x0:x1]
    if face.size == 0:
        return 0.0
    grey = cv2.resize(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), (150, 150), interpolation=cv2.INTER_AREA)
    variance = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    return variance / (variance + 40.0)


def decode_photo(data: bytes, config: WatchlistConfig) -> Image:
    """BGR pixels of a JPEG/PNG/WebP photo, upright; PhotoRefused for anything else."""
    limit = int(config.max_photo_mb * 1024 * 1024)
    if len(data) > limit:
        raise PhotoRefused(
            "too_large", f"the photo is {len(data) / 2**20:.1f} MiB, at most {config.max_photo_mb} MiB"
        )
    max_pixels = int(config.max_photo_megapixels * 1_000_000)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as photo:
                if photo.format not in FORMATS:
                    raise PhotoRefused(
                        "not_an_image", f"{photo.format} photos are not accepted: use JPEG, PNG or WebP"
                    )
                width, height = photo.size
                if width * height > max_pixels:
                    raise PhotoRefused(
                        "too_many_pixels",
                        f"the photo is {width}x{height}, at most {config.max_photo_megapixels:g} megapixels",
                    )
                upright = ImageOps.exif_transpose(photo).convert("RGB")
    except PhotoRefused:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        message = f"the photo claims too many pixels (at most {config.max_photo_megapixels:g} megapixels)"
        raise PhotoRefused("too_many_pixels", message) from exc
    except UnidentifiedImageError as exc:
        raise PhotoRefused("not_an_image", "not a readable JPEG, PNG or WebP image") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
        raise PhotoRefused("not_an_image", "the image data is truncated or corrupt") from exc
    rgb = np.asarray(upright, dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])
