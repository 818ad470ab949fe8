"""Cost of one face embedding: dlib's ResNet run by dlib vs the same network run by onnxruntime.

The engines take turns, round after round, on the same face crops (YuNet on the shared photos),
so a change in machine load hits all of them; each number is the median over rounds of the
mean per face in a round. Wall ms and CPU ms (all threads of this process) per `embed()` call,
alignment included, as the pipeline pays it.

    python -m bench.embed_speed [--rounds 15]
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
from vigil.embed.dlib_onnx import DlibOnnxConfig
from vigil.embed.dlib_resnet import DlibResnetConfig

ENGINES: dict[str, EmbedderConfigBase] = {
    "dlib_resnet (dlib-bin)": DlibResnetConfig(),
    "dlib_onnx, 1 thread": DlibOnnxConfig(threads=1),
    "dlib_onnx, default threads": DlibOnnxConfig(threads=0),
}


@dataclass(frozen=True)
class Timing:
    wall_ms: float
    cpu_ms: float


def face_crops(shared: Path, limit: int) -> list[FaceCrop]:
    """The largest face of each shared photo, cut as the live pipeline cuts it."""
    detector = create_detector(YuNetConfig(), [shared / "models"])
    crops: list[FaceCrop] = []
    for photo in sorted((shared / "media/faces/people").glob("*/*"))[:limit]:
        image = cv2.imread(str(photo))
        if image is None:
            continue
        found = detector.detect(image)
        if not len(found.xyxy) or found.landmarks is None:
            continue
        best = int(np.argmax(found.score))
        crops.append(FaceCrop.cut(image, found.xyxy[best], found.landmarks[best]))
    return crops


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
    parser.add_argument("--faces", type=int, default=12, help="shared photos to take faces from")
    args = parser.parse_args()
    crops = face_crops(shared_dir(), args.faces)
    embedders = {name: create_embedder(config) for name, config in ENGINES.items()}
    rounds = list(alternate(embedders, crops, args.rounds))
    print(json.dumps(machine_info(), indent=1))
    print(f"\n{len(crops)} faces x {args.rounds} rounds, medians over rounds\n")
    print("| engine | wall ms / face | CPU ms / face | speed-up (wall) |")
    print("|---|---|---|---|")
    baseline = statistics.median(r[next(iter(ENGINES))].wall_ms for r in rounds)
    for name in ENGINES:
        wall = statistics.median(r[name].wall_ms for r in rounds)
        cpu = statistics.median(r[name].cpu_ms for r in rounds)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {baseline / wall:.1f}x |")


if __name__ == "__main__":
    main()
