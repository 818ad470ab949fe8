"""Model files that cannot ship in a wheel: download from the official location, verify sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.activity.hands_cues import HAND_LANDMARKER_FILENAME
from vigil.activity.pose import POSE_LANDMARKER_FILENAME
from vigil.activity.yamnet import YAMNET_FILENAME
from vigil.batch.landmarker import FACE_LANDMARKER_FILENAME
from vigil.batch.objects import COCO_SSD_FILENAME, EFFICIENTDET_LITE0_FILENAME
from vigil.detect.yunet import YUNET_FILENAME
from vigil.errors import ModelError


@dataclass(frozen=True)
class ModelFile:
    filename: str
    url: str
    sha256: str
    licence: str
    # Other official builds of the same model whose bytes differ (e.g. a test asset); a file or
    # a download matching any of these is as good as one matching `sha256`.
    also_sha256: tuple[str, ...] = ()

    def accepts(self, digest: str) -> bool:
        return digest == self.sha256 or digest in self.also_sha256


YUNET = ModelFile(
    filename=YUNET_FILENAME,
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/" + YUNET_FILENAME,
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    licence="MIT (OpenCV Zoo)",
)
# MediaPipe Face Landmarker (float16 v1): 478 landmarks + 52 learned ARKit blendshapes, the
# default batch tracking engine when installed (`mediapipe_landmarker`).
FACE_LANDMARKER = ModelFile(
    filename=FACE_LANDMARKER_FILENAME,
    url="https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/"
    + FACE_LANDMARKER_FILENAME,
    sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    licence="Apache-2.0 (MediaPipe)",
)
MODELS = {"yunet": YUNET, "face_landmarker": FACE_LANDMARKER}

# COCO object detectors of the object fallback (vigil/batch/objects.py), MediaPipe ObjectDetector.
COCO_SSD_MOBILENET = ModelFile(
    filename=COCO_SSD_FILENAME,
    url="https://storage.googleapis.com/mediapipe-assets/" + COCO_SSD_FILENAME,
    sha256="61d598093ed03ed41aa47c3a39a28ac01e960d6a810a5419b9a5016a1e9c469b",
    licence="Apache-2.0 (MediaPipe / TensorFlow Lite)",
)
EFFICIENTDET_LITE0 = ModelFile(
    filename=EFFICIENTDET_LITE0_FILENAME,
    url="https://storage.googleapis.com/mediapipe-models/object_detector/efficientdet_lite0/int8/1/"
    + EFFICIENTDET_LITE0_FILENAME,
    sha256="0720bf247bd76e6594ea28fa9c6f7c5242be774818997dbbeffc4da460c723bb",
    licence="Apache-2.0 (MediaPipe)",
)
MODELS.update({"coco_ssd_mobilenet": COCO_SSD_MOBILENET, "efficientdet_lite0": EFFICIENTDET_LITE0})

# Body and hand landmarks of the activity cues (vigil/activity/pose.py, hands_cues.py).
POSE_LANDMARKER_FULL = ModelFile(
    filename=POSE_LANDMARKER_FILENAME,
    url="https://storage.googleapis.com/mediapipe-models/pose_landmarker/pose_landmarker_full/float16/1/"
    + POSE_LANDMARKER_FILENAME,
    sha256="4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad",
    licence="Apache-2.0 (MediaPipe)",
)
HAND_LANDMARKER = ModelFile(
    filename=HAND_LANDMARKER_FILENAME,
    url="https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/1/"
    + HAND_LANDMARKER_FILENAME,
    sha256="fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
    licence="Apache-2.0 (MediaPipe)",
)
MODELS.update({"pose_landmarker_full": POSE_LANDMARKER_FULL, "hand_landmarker": HAND_LANDMARKER})

# YAMNet (521 AudioSet classes; vigil/activity/yamnet.py): the audio classifier of MediaPipe's
# AudioClassifier, float32 v1. MediaPipe's test asset of the same model (same size, other bytes)
# is accepted too.
YAMNET = ModelFile(
    filename=YAMNET_FILENAME,
    url="https://storage.googleapis.com/mediapipe-models/audio_classifier/yamnet/float32/1/"
    + YAMNET_FILENAME,
    sha256="4d8b4a53282dc83ef04e3e7dbc4fbc98082e34e44ed798e16c3a0cdd4c584faf",
    licence="Apache-2.0 (MediaPipe / TensorFlow Models)",
    also_sha256=("10c95ea3eb9a7bb4cb8bddf6feb023250381008177ac162ce169694d05c317de",),
)
MODELS["yamnet"] = YAMNET


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_installed(model: ModelFile, directory: Path) -> bool:
    path = directory / model.filename
    return path.is_file() and model.accepts(sha256_of(path))


def fetch(
    model: ModelFile,
    directory: Path,
    url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download `model` into `directory` atomically; raises ModelError on a bad checksum."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / model.filename
    if is_installed(model, directory):
        return target
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{model.filename}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url or model.url, timeout=timeout_s) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while block := resp.read(1 << 16):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        digest = sha256_of(tmp)
        if not model.accepts(digest):
            raise ModelError(
                f"{model.filename}: sha256 {digest} does not match the expected {model.sha256}; "
                "the download is corrupt or the file changed upstream"
            )
        tmp.replace(target)
        return target
    except OSError as exc:
        raise ModelError(f"cannot download {url or model.url}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
