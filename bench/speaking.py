"""Active-speaker benchmark: `python -m bench.speaking [--outputs DIR] [--replay DIR] [--json FILE]`.

Tracks each clip of bench/speaking_labels.json with `vigil track`'s runner (one worker,
default settings) and prints, per clip, precision and recall of `is_speaking` over face-frames,
and the share of frames with a speaking face (the silent clips' goal is <= 2%).

`--replay DIR` skips tracking: it reads `<stem>_tracking.json` files written with
STEP5_EXPORT_VERBOSE_FIELDS=true (landmarks included) from DIR and decides again with the current
vigil/batch/speaking.py (seconds instead of minutes, for tuning the constants).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.batch.headpose import LandmarkLayout
from vigil.batch.speaking import SpeakingDetector, find_audio_activity, window_for_fps
from vigil.batch.speaking_mouth import mouth_signal

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "bench" / "speaking_labels.json"
SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", ROOT / ".." / "shared")).resolve()
LEARNED_ENGINE = "mediapipe_landmarker"


@dataclass(frozen=True)
class Speaker:
    first: int
    last: int
    box: tuple[float, float, float, float]

    def covers(self, frame: int, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.box
        return self.first <= frame <= self.last and x0 <= x <= x1 and y0 <= y <= y1


@dataclass(frozen=True)
class ClipLabels:
    path: str
    silent: bool
    speakers: tuple[Speaker, ...]

    def speaks(self, frame: int, x: float, y: float) -> bool:
        return any(speaker.covers(frame, x, y) for speaker in self.speakers)


@dataclass(frozen=True)
class ClipScore:
    clip: str
    frames: int
    face_frames: int
    true_positive: int
    false_positive: int
    false_negative: int
    labelled_speaking: int
    speaking_frame_share: float  # frames with at least one speaking face / frames

    @property
    def precision(self) -> float | None:
        flagged = self.true_positive + self.false_positive
        return None if flagged == 0 else self.true_positive / flagged

    @property
    def recall(self) -> float | None:
        return None if self.labelled_speaking == 0 else self.true_positive / self.labelled_speaking


def load_labels(path: Path = LABELS) -> list[ClipLabels]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        ClipLabels(
            path=clip["path"],
            silent=bool(clip.get("silent", False)),
            speakers=tuple(
                Speaker(int(s["first"]), int(s["last"]), tuple(float(v) for v in s["box"]))  # type: ignore[arg-type]
                for s in clip["speakers"]
            ),
        )
        for clip in data["clips"]
    ]


def score(labels: ClipLabels, document: dict[str, Any]) -> ClipScore:
    """Face-frame precision/recall of a tracking document against the labels."""
    tp = fp = fn = faces = positives = speaking_frames = 0
    for entry in document["frames"]:
        any_speaking = False
        for obj in entry["tracked_objects"]:
            if obj.get("label") != "face":
                continue
            faces += 1
            truth = labels.speaks(entry["frame"], obj["centroid_x"], obj["centroid_y"])
            said = bool(obj["is_speaking"])
            any_speaking |= said
            positives += truth
            tp += truth and said
            fp += said and not truth
            fn += truth and not said
        speaking_frames += any_speaking
    frames = len(document["frames"])
    return ClipScore(
        clip=Path(labels.path).name,
        frames=frames,
        face_frames=faces,
        true_positive=tp,
        false_positive=fp,
        false_negative=fn,
        labelled_speaking=positives,
        speaking_frame_share=speaking_frames / max(frames, 1),
    )


def replay(document: dict[str, Any], video: Path) -> dict[str, Any]:
    """The document with `is_speaking` decided again from its landmarks by the current detector."""
    meta = document["metadata"]
    fps, total = float(meta["fps"]), int(meta["total_frames"])
    layout: LandmarkLayout = meta.get("landmark_layout") or "facemesh478"
    detector = SpeakingDetector(find_audio_activity(video, fps, total), window=window_for_fps(fps), fps=fps)
    learned = meta.get("tracking_engine") == LEARNED_ENGINE  # its jawOpen is the landmarker's own
    for entry in document["frames"]:
        for obj in entry["tracked_objects"]:
            if obj.get("label") != "face":
                continue
            points = obj.get("landmarks")
            landmarks = None if points is None else np.asarray(points, np.float32)
            jaw = (obj.get("blendshapes") or {}).get("jawOpen") if learned else None
            result = detector.update(obj["id"], entry["frame"], mouth_signal(landmarks, layout, jaw))
            obj["is_speaking"] = result.is_speaking
            obj["speaking_confidence"] = result.confidence
    return document


def track(videos: list[Path], out_dir: Path) -> None:
    from vigil.batch.runner import run_batch
    from vigil.batch.settings import BatchSettings

    settings = BatchSettings(models_dir=SHARED / "models", cpu_workers=1)
    run_batch(videos, settings, out_dir=out_dir, force=True)


def _row(cells: tuple[str, ...]) -> str:
    return f"{cells[0]:40s} " + " ".join(f"{cell:>7s}" for cell in cells[1:-1]) + f" {cells[-1]:>16s}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, help="keep the tracking outputs in this folder")
    parser.add_argument("--replay", type=Path, help="decide again from verbose outputs in this folder")
    parser.add_argument("--json", type=Path, help="also write the scores as JSON")
    args = parser.parse_args(argv)
    labels = load_labels()
    videos = [SHARED / clip.path for clip in labels]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"missing shared clips: {missing}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vigil-speaking-") as temp:
        out_dir = args.replay or args.outputs or Path(temp)
        if args.replay is None:
            out_dir.mkdir(parents=True, exist_ok=True)
            track(videos, out_dir)
        scores = []
        for clip, video in zip(labels, videos, strict=True):
            output = out_dir / f"{video.stem}_tracking.json"
            if args.replay is not None and not output.is_file():
                continue  # replaying a subset
            document = json.loads(output.read_text(encoding="utf-8"))
            if args.replay is not None:
                document = replay(document, video)
            scores.append(score(clip, document))
    header = ("clip", "frames", "faces", "speak", "TP", "FP", "FN", "prec", "recall", "frames speaking")
    print(_row(header))
    for s in scores:
        prec = "-" if s.precision is None else f"{s.precision:.3f}"
        rec = "-" if s.recall is None else f"{s.recall:.3f}"
        counts = (s.frames, s.face_frames, s.labelled_speaking, s.true_positive, s.false_positive)
        print(
            _row(
                (s.clip, *map(str, counts), str(s.false_negative), prec, rec, f"{s.speaking_frame_share:.3f}")
            )
        )
    tp = sum(s.true_positive for s in scores)
    fp = sum(s.false_positive for s in scores)
    fn = sum(s.false_negative for s in scores)
    print(f"all clips: precision {tp / max(tp + fp, 1):.3f}, recall {tp / max(tp + fn, 1):.3f}")
    if args.json:
        rows = [asdict(s) | {"precision": s.precision, "recall": s.recall} for s in scores]
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
