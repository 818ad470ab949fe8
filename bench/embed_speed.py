"""Cost of one face embedding: dlib's ResNet run by dlib vs the same network run by onnxruntime.

The engines take turns, round after round, on the same face crops (YuNet on every 20th frame
of the hamilton clip: 360p faces as the live pipeline sees them; `--photos`: the shared photos,
larger faces whose alignment costs more),
so a change in machine load hits all of them; each number is the median over rounds of the
mean per face in a round. Wall ms and CPU ms (all threads of this process) per `embed()` call,
alignment included, as the pipeline pays it; the alignment's own share on its own row.

    python -m bench.embed_speed [--rounds 15] [--photos]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.live import machine_info, shared_dir
from vigil.detect import create_detector
from vigil.detect.yunet import YuNetConfig
from vigil.embed import EmbedderConfigBase, FaceCrop, FaceEmbedder, create_embedder
from vigil.embed.dlib_chip import DlibChipper
from vigil.embed.dlib_onnx import DlibOnnxConfig
from vigil.embed.dlib_resnet import DlibResnetConfig
from vigil.types import FaceEmbedding

ENGINES: dict[str, EmbedderConfigBase] = {
    "dlib_resnet (dlib-bin)": DlibResnetConfig(),
    "dlib_onnx, 1 thread": DlibOnnxConfig(threads=1),
    "dlib_onnx, default threads": DlibOnnxConfig(threads=0),
}
ALIGNMENT = "alignment alone (in each of the above)"
CLIP_FRAME_STEP = 20


@dataclass(frozen=True)
class Timing:
    wall_ms: float
    cpu_ms: float


def frames(shared: Path, photos: bool) -> Iterator[np.ndarray]:
    if photos:
        for path in sorted((shared / "media/faces/people").glob("*/*")):
            image = cv2.imread(str(path))
            if image is not None:
                yield image
        return
    capture = cv2.VideoCapture(str(shared / "media/video/hamilton_640x360.mp4"))
    index = 0
    while (frame := capture.read()[1]) is not None:
        if index % CLIP_FRAME_STEP == 0:
            yield frame
        index += 1
    capture.release()


def face_crops(shared: Path, photos: bool) -> list[FaceCrop]:
    """Every face found (the largest of each photo), cut as the live pipeline cuts it."""
    detector = create_detector(YuNetConfig(), [shared / "models"])
    crops: list[FaceCrop] = []
    for image in frames(shared, photos):
        found = detector.detect(image)
        if found.landmarks is None:
            continue
        rows = [int(np.argmax(found.score))] if photos and len(found.xyxy) else range(len(found.xyxy))
        crops += [FaceCrop.cut(image, found.xyxy[row], found.landmarks[row]) for row in rows]
    return crops


class AlignmentOnly(FaceEmbedder):
    """Times the part both dlib engines share: shape predictor and face chip (no vector)."""

    name = "alignment"
    dim = 0

    def __init__(self) -> None:
        self._chipper = DlibChipper()

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        self._chipper.chip(crop)
        return FaceEmbedding(np.ones(1, np.float32), self.name)


def time_round(embedder: FaceEmbedder, crops: list[FaceCrop]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    for crop in crops:
        embedder.embed(crop)
    count = len(crops)
    return Timing(1000 * (time.perf_counter() - wall) / count, 1000 * (time.process_time() - cpu) / count)


def alternate(
    embedders: dict[str, FaceEmbedder], crops: list[FaceCrop], rounds: int
) -> Iterator[dict[str, Timing]]:
    for embedder in embedders.values():  # warm-up: first-call allocations, lazy kernels
        time_round(embedder, crops[:2])
    for _ in range(rounds):
        yield {name: time_round(embedder, crops) for name, embedder in embedders.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--photos", action="store_true", help="faces of the shared photos, not the clip")
    args = parser.parse_args()
    crops = face_crops(shared_dir(), args.photos)
    embedders = {name: create_embedder(config) for name, config in ENGINES.items()}
    embedders[ALIGNMENT] = AlignmentOnly()
    rounds = list(alternate(embedders, crops, args.rounds))
    print(json.dumps(machine_info(), indent=1))
    source = "shared photos" if args.photos else f"hamilton, every {CLIP_FRAME_STEP}th frame"
    print(f"\n{len(crops)} faces ({source}) x {args.rounds} rounds, medians over rounds\n")
    print("| engine | wall ms / face | CPU ms / face | speed-up, wall | speed-up, CPU |")
    print("|---|---|---|---|---|")
    dlib_wall = statistics.median(r[next(iter(ENGINES))].wall_ms for r in rounds)
    dlib_cpu = statistics.median(r[next(iter(ENGINES))].cpu_ms for r in rounds)
    for name in embedders:
        wall = statistics.median(r[name].wall_ms for r in rounds)
        cpu = statistics.median(r[name].cpu_ms for r in rounds)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {dlib_wall / wall:.1f}x | {dlib_cpu / cpu:.1f}x |")


if __name__ == "__main__":
    main()
