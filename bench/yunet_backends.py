"""YuNet's two backends side by side: OpenCV's cv2.FaceDetectorYN and ONNX Runtime
(vigil/detect/yunet_onnx.py), on the same decoded frames of the shared clips, one thread each,
alternated frame by frame so load changes hit both alike.

    .venv/bin/python -m bench.yunet_backends [--frames 150] [--rounds 3]

Per clip and round: CPU ms per frame of each backend (the detector's `detect`, downscale to 640
wide included), their ratio, the faces each found and the largest coordinate and score
difference between them. Medians over the rounds on the last line of each clip."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.detect import create_detector
from vigil.detect.base import FaceDetector
from vigil.detect.yunet import YuNetConfig
from vigil.types import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", ROOT.parent / "shared")).resolve()
CLIPS = ("hamilton_640x360.mp4", "crowd_1080p.mp4", "expressions_640x360.mp4")


def frames(clip: Path, count: int) -> list[Image]:
    with av.open(str(clip)) as container:
        decoded = (frame.to_ndarray(format="bgr24") for frame in container.decode(video=0))
        return [image for _, image in zip(range(count), decoded, strict=False)]


def one_round(images: list[Image], onnx: FaceDetector, opencv: FaceDetector) -> dict[str, float]:
    spent = {"onnxruntime": 0.0, "opencv": 0.0}
    faces = {"onnxruntime": 0, "opencv": 0}
    worst_xy = worst_score = 0.0
    for image in images:
        found = {}
        for name, detector in (("onnxruntime", onnx), ("opencv", opencv)):
            start = time.process_time()
            found[name] = detector.detect(image)
            spent[name] += time.process_time() - start
            faces[name] += len(found[name])
        ours, theirs = found["onnxruntime"], found["opencv"]
        if len(ours) == len(theirs) and len(ours):
            worst_xy = max(worst_xy, float(np.abs(ours.xyxy - theirs.xyxy).max()))
            worst_score = max(worst_score, float(np.abs(ours.score - theirs.score).max()))
        elif len(ours) != len(theirs):
            worst_xy = float("inf")
    count = len(images)
    return {
        "onnxruntime_ms": spent["onnxruntime"] / count * 1000,
        "opencv_ms": spent["opencv"] / count * 1000,
        "opencv_over_onnxruntime": spent["opencv"] / spent["onnxruntime"],
        "faces_onnxruntime": faces["onnxruntime"],
        "faces_opencv": faces["opencv"],
        "max_box_diff_px": worst_xy,
        "max_score_diff": worst_score,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as in the batch workers
    models = [Path.home() / ".local/share/vigil/models", SHARED / "models"]
    onnx, opencv = (
        create_detector(YuNetConfig(backend=backend, score_threshold=0.5), models)
        for backend in ("onnxruntime", "opencv")
    )
    print(json.dumps({"load": os.getloadavg()}))
    for clip in CLIPS:
        images = frames(SHARED / "media/video" / clip, args.frames)
        rounds = [one_round(images, onnx, opencv) for _ in range(args.rounds)]
        for result in rounds:
            print(json.dumps({"clip": clip, **{k: round(v, 4) for k, v in result.items()}}))
        medians = {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}
        print(json.dumps({"clip": clip, "frames": len(images), "median": medians}))


if __name__ == "__main__":
    main()
