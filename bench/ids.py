"""Identity benchmark of batch tracking: `python -m bench.ids [--outputs DIR] [--json FILE]`.

Runs `vigil track` (2 workers, default engine) on the hand-checked shared clips, or reads existing
`<stem>_tracking.json` files from `--outputs`, and scores the ids against `bench/ids_labels.json`
(cuts and people found by looking at the frames):

- an output face is *assigned* to the labelled person whose interpolated centre is nearest, if
  within half the labelled face size; an (id, person) pair counts from 2 assigned frames on (a
  box passing near someone for a frame or two is not an identity);
- **ids spanning two people**: ids assigned to more than one person; **ids spanning a cut**: ids
  present in two shots;
- **fragments per person per shot**: distinct ids assigned to one person within one shot
  (1.0 is perfect), mean and max over (person, shot);
- **late starts**: labelled segments (a person's first detection, after a cut or a long absence)
  whose id appears after the segment's first frame, and by how many frames at most;
- **frame 1**: a face is output on frame 1 when a labelled person is visible there.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LABELS = Path(__file__).resolve().parent / "ids_labels.json"
SHARED = Path(
    os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared")
).resolve()
MATCH_RADIUS = 0.5  # of the labelled face size
MIN_PAIR_FRAMES = 2

Key = list[float]  # frame, centre x, centre y, size


@dataclass(frozen=True)
class IdScores:
    clip: str
    ids: int
    ids_spanning_people: int
    ids_spanning_cuts: int
    fragments_mean: float
    fragments_max: int
    person_shots: int
    late_starts: int
    late_max_frames: int
    missed_segments: int
    frame1_expected: bool
    frame1_face: bool


def labels() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LABELS.read_text())["clips"]
    return data


def _position(segment: list[Key], frame: int) -> tuple[float, float, float] | None:
    frames = [int(k[0]) for k in segment]
    if frame < frames[0] or frame > frames[-1]:
        return None
    i = bisect.bisect_left(frames, frame)
    if frames[i] == frame:
        return segment[i][1], segment[i][2], segment[i][3]
    a, b = segment[i - 1], segment[i]
    t = (frame - a[0]) / (b[0] - a[0])
    return tuple(a[j] + t * (b[j] - a[j]) for j in (1, 2, 3))  # type: ignore[return-value]


def _shot(cuts: list[int], frame: int) -> int:
    return bisect.bisect_right(cuts, frame)


def score(clip: str, document: dict[str, Any], label: dict[str, Any]) -> IdScores:
    cuts: list[int] = label["cuts"]
    people: dict[str, list[list[Key]]] = label["people"]
    pair_frames: dict[tuple[str, str], list[int]] = defaultdict(list)
    id_shots: dict[str, set[int]] = defaultdict(set)
    for entry in document["frames"]:
        frame = int(entry["frame"])
        for obj in entry["tracked_objects"]:
            if obj.get("label") != "face":
                continue
            id_shots[obj["id"]].add(_shot(cuts, frame))
            best: tuple[float, str] | None = None
            for name, segments in people.items():
                for segment in segments:
                    where = _position(segment, frame)
                    if where is None:
                        continue
                    x, y, size = where
                    distance = ((obj["centroid_x"] - x) ** 2 + (obj["centroid_y"] - y) ** 2) ** 0.5 / size
                    if distance <= MATCH_RADIUS and (best is None or distance < best[0]):
                        best = (distance, name)
            if best is not None:
                pair_frames[(obj["id"], best[1])].append(frame)
    pairs = {pair: frames for pair, frames in pair_frames.items() if len(frames) >= MIN_PAIR_FRAMES}
    people_of: dict[str, set[str]] = defaultdict(set)
    ids_of: dict[tuple[str, int], set[str]] = defaultdict(set)
    for (object_id, name), frames in pairs.items():
        people_of[object_id].add(name)
        for frame in frames:
            ids_of[(name, _shot(cuts, frame))].add(object_id)
    fragments = [len(ids) for ids in ids_of.values()]
    late, late_max, missed = 0, 0, 0
    for name, segments in people.items():
        for segment in segments:
            first, last = int(segment[0][0]), int(segment[-1][0])
            seen = [f for (_, n), frames in pairs.items() if n == name for f in frames if first <= f <= last]
            if not seen:
                missed += 1
            elif min(seen) > first:
                late += 1
                late_max = max(late_max, min(seen) - first)
    expected = any(_position(s, 1) is not None for segments in people.values() for s in segments)
    faces_on_1 = any(o.get("label") == "face" for o in document["frames"][0]["tracked_objects"])
    return IdScores(
        clip=clip,
        ids=len(id_shots),
        ids_spanning_people=sum(len(names) > 1 for names in people_of.values()),
        ids_spanning_cuts=sum(len(shots) > 1 for shots in id_shots.values()),
        fragments_mean=round(sum(fragments) / max(len(fragments), 1), 3),
        fragments_max=max(fragments, default=0),
        person_shots=len(fragments),
        late_starts=late,
        late_max_frames=late_max,
        missed_segments=missed,
        frame1_expected=expected,
        frame1_face=faces_on_1,
    )


def track(clips: list[str], out_dir: Path, workers: int) -> None:
    from vigil.batch.runner import run_batch
    from vigil.batch.settings import BatchSettings

    settings = BatchSettings(models_dir=SHARED / "models", cpu_workers=workers)
    run_batch([SHARED / "media" / "video" / c for c in clips], settings, out_dir=out_dir, force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--outputs", type=Path, help="score these <stem>_tracking.json files instead of tracking"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args(argv)
    truth = labels()
    with tempfile.TemporaryDirectory(prefix="vigil-ids-") as tmp:
        out_dir = args.outputs or Path(tmp)
        if args.outputs is None:
            track(list(truth), out_dir, args.workers)
        results = []
        for clip, label in truth.items():
            path = out_dir / f"{Path(clip).stem}_tracking.json"
            results.append(score(clip, json.loads(path.read_text()), label))
    print(
        "clip                      ids  2-people  cut-span  frag/person/shot (max)  late (max fr)  missed"
        "  frame1"
    )
    for r in results:
        frame1 = "n/a" if not r.frame1_expected else ("face" if r.frame1_face else "EMPTY")
        print(
            f"{r.clip:24s} {r.ids:4d} {r.ids_spanning_people:9d} {r.ids_spanning_cuts:9d} "
            f"{r.fragments_mean:10.2f} ({r.fragments_max}) over {r.person_shots:2d} "
            f"{r.late_starts:6d} ({r.late_max_frames:2d}) {r.missed_segments:7d}  {frame1}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
