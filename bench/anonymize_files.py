"""`vigil anonymize` on the shared clips: speed and leaks (issue 17).

For each clip: anonymise it (default options, `--workers N`), then run three detectors on every
frame of the input and of the output: BlazeFace full range and dlib HOG (not the detector that
found the faces) and YuNet at score 0.6 (the one that did, stricter than its 0.5 here). A *leak*
is an output frame where a detector finds a face at the place of one it finds in the input frame
(overlapping it by more than 0.3 of the smaller box, centred inside it). Prints one JSON object
per clip and a summary.

    .venv/bin/python -m bench.anonymize_files [--workers 2] [--clips hamilton_640x360.mp4 ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from vigil.anonymize.run import anonymize_videos
from vigil.config import VigilSettings
from vigil.detect import create_detector
from vigil.detect.base import DetectorConfigBase, FaceDetector
from vigil.detect.blazeface import BlazeFaceConfig
from vigil.detect.dlib_hog import DlibHogConfig
from vigil.detect.yunet import YuNetConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CLIPS = (
    "hamilton_640x360.mp4",
    "crowd_1080p.mp4",
    "expressions_640x360.mp4",
    "single_face.mp4",
    "no_face.mp4",
    "face_then_noface_hevc.mov",
    "noface_then_face_hevc.mov",
)
CHECKERS: dict[str, DetectorConfigBase] = {
    "blazeface": BlazeFaceConfig(),
    "dlib_hog": DlibHogConfig(),
    "yunet@0.6": YuNetConfig(score_threshold=0.6),
}


def _frames(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="bgr24")


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` (found in the output) is the input face `b` found again: they overlap by more than 0.3
    of the smaller box and `a`'s centre lies in `b`. Until 2026-12-07 the overlap alone counted,
    which also took a box twice a face's size centred on a door between three covers for that
    face (crowd_1080p frame 102, BlazeFace 0.62, its centre 46 px right of the face's box)."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    centre_x, centre_y = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    centred = b[0] <= centre_x <= b[2] and b[1] <= centre_y <= b[3]
    return bool(inter_w * inter_h > 0.3 * smaller and centred)


def leaks(source: Path, output: Path, detectors: dict[str, FaceDetector]) -> dict[str, Any]:
    found = dict.fromkeys(detectors, 0)  # faces each detector finds in the input
    still = dict.fromkeys(detectors, 0)  # of those, found again at the same place in the output
    frames: dict[str, list[int]] = {name: [] for name in detectors}
    for number, (before, after) in enumerate(zip(_frames(source), _frames(output), strict=True), start=1):
        for name, detector in detectors.items():
            original = detector.detect(before).xyxy
            if not len(original):
                continue
            found[name] += len(original)
            seen = detector.detect(after).xyxy
            kept = sum(any(_overlap(a, b) for a in seen) for b in original)
            still[name] += kept
            if kept:
                frames[name].append(number)
    return {
        name: {
            "input_faces": found[name],
            "output_faces_at_input_places": still[name],
            "leaked_frames": len(frames[name]),
            "frames": frames[name][:20],
        }
        for name in detectors
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--pad", type=float, default=None, help="anonymize.faces.pad (default: setting)")
    parser.add_argument("--extra-engines", nargs="*", default=[], help="anonymize.faces.extra_engines")
    parser.add_argument("--faces", default=None, help="anonymize.faces.style (default: setting)")
    args = parser.parse_args()
    models = SHARED / "models"
    faces: dict[str, object] = {"extra_engines": args.extra_engines}
    if args.pad is not None:
        faces["pad"] = args.pad
    if args.faces is not None:
        faces["style"] = args.faces
    settings = VigilSettings(track={"models_dir": models}, anonymize={"faces": faces})
    detectors = {name: create_detector(config, [models]) for name, config in CHECKERS.items()}
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="vigil-anonymize-bench-"))
    rows = []
    for name in args.clips:
        source = SHARED / "media" / "video" / name
        started = time.perf_counter()
        report = anonymize_videos([source], out_dir, settings, force=True, workers=args.workers)
        wall = time.perf_counter() - started
        if source not in report.done:
            print(json.dumps({"clip": name, "failed": report.failed.get(source)}))
            continue
        sidecar = report.sidecars[source]
        row = {
            "clip": name,
            "frames": sidecar.frames,
            "size": f"{sidecar.width}x{sidecar.height}",
            "wall_s": round(wall, 2),
            "fps": round(sidecar.frames / wall, 1),
            "faces_s": sidecar.timings.faces_s,
            "render_fps": sidecar.timings.render_fps,
            "tracks": sidecar.faces.tracks,
            "detections": sidecar.faces.detections,
            "filled_boxes": sidecar.faces.filled_boxes,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "leaks": leaks(source, report.done[source], detectors),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    total = {
        name: {
            "leaked_frames": sum(r["leaks"][name]["leaked_frames"] for r in rows),
            "input_faces": sum(r["leaks"][name]["input_faces"] for r in rows),
            "output_faces_at_input_places": sum(
                r["leaks"][name]["output_faces_at_input_places"] for r in rows
            ),
        }
        for name in CHECKERS
    }
    print(json.dumps({"summary": total, "out_dir": str(out_dir)}))


if __name__ == "__main__":
    main()
