"""Bodies and clothes (issue 17 item 3): cost per step and skin kept, `python -m bench.anonymize_persons`.

1. Cost: frames of each clip decoded up front (PyAV) and scaled to 640x360 and 1280x720, then
   YuNet (the faces the file pipeline would pass) and `PersonAnonymizer.apply` per frame in this
   process (one thread, as one worker); ms per frame of each step: segmentation (resize, selfie
   model, instances, tracking), hands (MediaPipe Hands, every `hands_every` frames, averaged over
   all frames), skin (face skin models, face ellipses, hand hulls, skin pixels), paint (masks at
   full size and the recolour or cover), with the machine's load average; `cpu_ms` is the
   process's CPU time per frame (all threads: MediaPipe runs its own), less sensitive to other
   work on the machine than the wall times.
2. Skin kept under `recolor`: on every `--skin-step`th frame, the face-mesh and hand hulls of
   MediaPipe FaceMesh and Hands (static mode, the full hands model: not the anonymizer's own
   calls) and the share of their pixels changed by more than 2 in any channel.
Results: printed as JSON lines and written to `--json` (default bench/results/anonymize_persons.json).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from vigil.anonymize.person_options import PersonOptions, PersonStyle
from vigil.anonymize.persons import PersonAnonymizer
from vigil.anonymize.styles import FaceRegion
from vigil.detect.yunet import YuNetConfig

SHARED = Path(
    os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared")
).resolve()
CLIPS = (
    "video/hamilton_640x360.mp4",
    "video/crowd_1080p.mp4",
    "video/expressions_640x360.mp4",
    "activity/busy/askanything_making_cake.mp4",
    "activity/talking/liveportrait_d12.mp4",
)


def frames(path: Path, count: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="bgr24")
            out.append(image if size is None else cv2.resize(image, size, interpolation=cv2.INTER_AREA))
            if len(out) >= count:
                break
    return out


def hulls(image: np.ndarray, mesh: Any, hands: Any) -> np.ndarray:
    height, width = image.shape[:2]
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    mask = np.zeros((height, width), np.uint8)
    found = [
        *(mesh.process(rgb).multi_face_landmarks or []),
        *(hands.process(rgb).multi_hand_landmarks or []),
    ]
    for item in found:
        points = np.array([(p.x * width, p.y * height) for p in item.landmark], np.float32)
        cv2.fillConvexPoly(mask, np.round(cv2.convexHull(points)).astype(np.int32), 1)
    return mask > 0


def cost(
    clip: str, size: tuple[int, int], style: PersonStyle, count: int, models: list[Path]
) -> dict[str, Any]:
    images = frames(SHARED / "media" / clip, count, size)
    detector = YuNetConfig().create(models)
    anonymizer = PersonAnonymizer(PersonOptions(style=style), models)
    detect_ms = 0.0
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    for image in images:
        t0 = time.perf_counter()
        found = detector.detect(image)
        detect_ms += (time.perf_counter() - t0) * 1000
        faces = [FaceRegion((float(b[0]), float(b[1]), float(b[2]), float(b[3]))) for b in found.xyxy]
        anonymizer.apply(image, faces)
    total = (time.perf_counter() - started) * 1000 / len(images)
    cpu = (time.process_time() - cpu_started) * 1000 / len(images)
    steps = {k: round(v, 2) for k, v in anonymizer.times.per_frame().items()}
    anonymizer.close()
    return {
        "kind": "cost",
        "clip": clip,
        "size": f"{size[0]}x{size[1]}",
        "style": style,
        "frames": len(images),
        "yunet_ms": round(detect_ms / len(images), 2),
        **{f"{k}_ms": v for k, v in steps.items()},
        "persons_ms": round(sum(steps.values()), 2),
        "total_ms": round(total, 2),
        "cpu_ms": round(cpu, 2),
        "load_1min": round(load, 2),
    }


def skin(clip: str, count: int, step: int, models: list[Path]) -> dict[str, Any]:
    from mediapipe.python.solutions import face_mesh, hands

    images = frames(SHARED / "media" / clip, count)
    detector = YuNetConfig().create(models)
    anonymizer = PersonAnonymizer(PersonOptions(style="recolor"), models)
    inside = changed = measured = 0
    with (
        face_mesh.FaceMesh(static_image_mode=True, max_num_faces=8) as mesh,
        hands.Hands(static_image_mode=True, max_num_hands=6) as finder,
    ):
        for index, image in enumerate(images):
            found = detector.detect(image)
            faces = [FaceRegion((float(b[0]), float(b[1]), float(b[2]), float(b[3]))) for b in found.xyxy]
            after = anonymizer.apply(image.copy(), faces)
            if index % step:
                continue
            area = hulls(image, mesh, finder)
            diff = np.abs(after.astype(int) - image).max(axis=2) > 2
            inside += int(area.sum())
            changed += int(diff[area].sum())
            measured += 1
    anonymizer.close()
    return {
        "kind": "skin",
        "clip": clip,
        "frames_measured": measured,
        "hull_pixels": inside,
        "skin_changed_percent": round(100 * changed / inside, 2) if inside else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=120, help="frames per clip and size (cost)")
    parser.add_argument("--skin-frames", type=int, default=150, help="frames per clip (skin)")
    parser.add_argument("--skin-step", type=int, default=10, help="measure skin every N frames")
    parser.add_argument("--styles", nargs="+", default=["recolor", "blur"])
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"], help="WxH")
    parser.add_argument("--no-skin", action="store_true", help="cost only")
    parser.add_argument("--json", type=Path, default=Path("bench/results/anonymize_persons.json"))
    args = parser.parse_args()
    models = [SHARED / "models"]
    rows: list[dict[str, Any]] = []
    for style in args.styles:
        for size in [(int(w), int(h)) for w, h in (s.split("x") for s in args.sizes)]:
            for clip in CLIPS:
                rows.append(cost(clip, size, style, args.frames, models))
                print(json.dumps(rows[-1]), flush=True)
    for clip in [] if args.no_skin else CLIPS:
        rows.append(skin(clip, args.skin_frames, args.skin_step, models))
        print(json.dumps(rows[-1]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
