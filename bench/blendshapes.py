"""Learned vs geometric blendshapes, and the cost of the Face Landmarker: `python -m bench.blendshapes`.

1. Cost: each clip's frames through `process_chunk` in this process (one thread, as a worker), with
   the `mediapipe_landmarker` engine (Face Landmarker on YuNet's regions) and the `yunet` engine
   (FaceMesh on the same regions), alternately, `--rounds` times; the landmark stage's time per
   landmark call (one per face per frame, plus the retries on the detector's region) and per frame.
2. Agreement: `run_batch` outputs of both engines; faces matched per frame (IoU >= 0.5); mean
   absolute error of the geometric estimates against the learned values, per key they both have.
3. eyeBlink on expressions_640x360.mp4: frames 21-41 (eyes shut) vs 241-281 (open), both engines.
Results: printed as JSON lines and written to `--json` (default bench/results/blendshapes.json).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vigil.batch.landmarker import FaceLandmarkerRegions
from vigil.batch.process import ChunkTask, process_chunk
from vigil.batch.runner import run_batch
from vigil.batch.settings import BatchSettings
from vigil.batch.video import probe_video
from vigil.batch.worker import worker_models

SHARED = Path(
    os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared")
).resolve()
CLIPS = ("hamilton_640x360.mp4", "crowd_1080p.mp4", "expressions_640x360.mp4", "single_face.mp4")
ENGINES = ("mediapipe_landmarker", "yunet")
SHUT, OPEN = range(21, 42), range(241, 282)  # expressions: eyes shut / open (checked by eye)


def settings(engine: str, workers: int = 1) -> BatchSettings:
    return BatchSettings(models_dir=SHARED / "models", cpu_workers=workers, engine=engine)


def stage_cost(path: Path, engine: str) -> dict[str, float]:
    """One in-process pass over the whole clip: landmark-stage ms per call and per frame."""
    info = probe_video(path)
    s = settings(engine)
    model = worker_models().engine(s).landmarker
    calls_before = model.calls if isinstance(model, FaceLandmarkerRegions) else None
    start = time.process_time()
    result = process_chunk(ChunkTask(path, 0, 1, info.total_frames, s), info)
    cpu = time.process_time() - start
    faces = sum(len(frame.faces) for frame in result.frames)
    with_points = sum(face.landmarks is not None for frame in result.frames for face in frame.faces)
    landmarks_s = result.timings.get("landmarks", 0.0)
    row = {
        "frames": len(result.frames),
        "faces": faces,
        "faces_with_landmarks": with_points,
        "landmarks_ms_per_frame": landmarks_s * 1000 / len(result.frames),
        "cpu_ms_per_frame": cpu * 1000 / len(result.frames),
    }
    if isinstance(model, FaceLandmarkerRegions) and calls_before is not None:
        calls = model.calls - calls_before  # the Face Landmarker counts its calls (retries included)
        row["calls"] = calls
        row["landmarks_ms_per_call"] = landmarks_s * 1000 / max(calls, 1)
    row["landmarks_ms_per_face"] = landmarks_s * 1000 / max(faces, 1)
    return row


def iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    x0, y0 = max(a["bbox_xmin"], b["bbox_xmin"]), max(a["bbox_ymin"], b["bbox_ymin"])
    x1, y1 = min(a["bbox_xmax"], b["bbox_xmax"]), min(a["bbox_ymax"], b["bbox_ymax"])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a["bbox_width"] * a["bbox_height"] + b["bbox_width"] * b["bbox_height"] - inter
    return inter / union if union > 0 else 0.0


def matched_faces(learned: Path, geometric: Path) -> list[tuple[int, dict[str, float], dict[str, float]]]:
    """(frame, learned blendshapes, geometric blendshapes) of the faces both engines measured."""
    frames_a = json.loads(learned.read_text())["frames"]
    frames_b = json.loads(geometric.read_text())["frames"]
    pairs = []
    for frame_a, frame_b in zip(frames_a, frames_b, strict=True):
        for a in frame_a["tracked_objects"]:
            if a.get("blendshapes") is None:
                continue
            best = max(frame_b["tracked_objects"], key=lambda b: iou(a, b), default=None)
            if best is not None and iou(a, best) >= 0.5 and best.get("blendshapes") is not None:
                pairs.append((frame_a["frame"], a["blendshapes"], best["blendshapes"]))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/blendshapes.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {"load_avg_at_start": os.getloadavg()[0], "cost": {}, "agreement": {}}
    for name in ("hamilton_640x360.mp4", "crowd_1080p.mp4"):
        runs: dict[str, list[dict[str, float]]] = {engine: [] for engine in ENGINES}
        for _ in range(args.rounds):
            for engine in ENGINES:  # alternately: the machine is shared
                runs[engine].append(stage_cost(SHARED / "media" / "video" / name, engine))
                print(
                    name,
                    engine,
                    json.dumps({k: round(v, 3) for k, v in runs[engine][-1].items()}),
                    flush=True,
                )
        results["cost"][name] = {
            engine: {key: float(np.median([r[key] for r in rows])) for key in rows[0]}
            for engine, rows in runs.items()
        }
    with tempfile.TemporaryDirectory(prefix="vigil-bench-bs-") as tmp:
        errors: dict[str, list[float]] = {}
        for name in CLIPS:
            video = SHARED / "media" / "video" / name
            outputs = {}
            for engine in ENGINES:
                out = Path(tmp) / engine
                report = run_batch([video], settings(engine, workers=2), out_dir=out, force=True)
                if report.failed:
                    raise RuntimeError(f"{name} {engine}: {report.failed}")
                outputs[engine] = out / f"{video.stem}_tracking.json"
            pairs = matched_faces(outputs["mediapipe_landmarker"], outputs["yunet"])
            clip_errors: dict[str, list[float]] = {}
            for _, learned, geometric in pairs:
                for key, value in geometric.items():
                    clip_errors.setdefault(key, []).append(abs(value - learned[key]))
            for key, values in clip_errors.items():
                errors.setdefault(key, []).extend(values)
            results["agreement"][name] = {
                "faces_compared": len(pairs),
                "mae": {key: round(float(np.mean(v)), 3) for key, v in sorted(clip_errors.items())},
            }
            if name == "expressions_640x360.mp4":
                blink: dict[str, Any] = {}
                for engine, path in outputs.items():
                    frames = json.loads(path.read_text())["frames"]

                    def mean_blink(numbers: range, frames: list[dict[str, Any]] = frames) -> float:
                        values = [
                            (o["blendshapes"]["eyeBlinkLeft"] + o["blendshapes"]["eyeBlinkRight"]) / 2
                            for f in frames
                            if f["frame"] in numbers
                            for o in f["tracked_objects"]
                            if o.get("blendshapes")
                        ]
                        return round(float(np.mean(values)), 3) if values else float("nan")

                    blink[engine] = {"shut_21_41": mean_blink(SHUT), "open_241_281": mean_blink(OPEN)}
                results["eye_blink_expressions"] = blink
            print(name, json.dumps(results["agreement"][name]), flush=True)
        results["agreement"]["all_clips_mae"] = {
            key: round(float(np.mean(v)), 3) for key, v in sorted(errors.items())
        }
    print(json.dumps(results.get("eye_blink_expressions")))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results in {args.json}")


if __name__ == "__main__":
    main()
