"""Hard-cut detection in the live decode thread: cost per decoded frame and cuts found.

For each shared clip, decoded as a live camera decodes it (`open_source` with the 5 fps analysis
rate, so non-reference frames are skipped on B-frame streams), per decoded frame:
decode time, the cut check (`ShotCounter.observe`: 48x27 thumbnail from the YUV frame + score),
and for comparison a full BGR conversion (what only sampled frames pay). Cuts are listed by
frame number (1-based, from the stream start), with the highest score inside shots. The same rule
on the sampled frames only (every ~6th) is shown too: why the decision is not taken there.

    python -m bench.cuts
    python -m bench.cuts --json out.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.live import shared_dir
from vigil.config import load_settings
from vigil.cuts import THUMB_SIZE, CutDetector, signature
from vigil.live.cuts import ShotCounter
from vigil.live.sampling import FrameSampler
from vigil.sources import open_source

CLIPS = ("hamilton_640x360.mp4", "crowd_1080p.mp4", "expressions_640x360.mp4", "single_face.mp4")
ANALYSIS_FPS = 5.0


@dataclass
class ClipResult:
    clip: str
    size: str
    frames_decoded: int
    ms_decode: float  # per decoded frame
    ms_cut_check: float  # per decoded frame
    ms_full_bgr: float  # per decoded frame, for comparison
    cuts: list[int] = field(default_factory=list)  # first frames of new shots (1-based)
    cut_scores: list[float] = field(default_factory=list)
    max_in_shot_score: float = 0.0
    sampled_rule_cuts: int = 0  # the same rule fed the 5 fps sampled frames only


def measure(path: Path) -> ClipResult:
    source = open_source(str(path), load_settings().runtime, analysis_fps=ANALYSIS_FPS)
    source.open()
    rate = source.nominal_fps or 25.0
    shots, sampler, sampled_rule = ShotCounter(), FrameSampler(ANALYSIS_FPS), CutDetector()
    decode = check = bgr = 0.0
    result = ClipResult(path.name, "", 0, 0.0, 0.0, 0.0)
    first_pts: float | None = None
    try:
        frames = iter(source.frames())
        while True:
            start = time.perf_counter()
            raw = next(frames, None)
            decode += time.perf_counter() - start
            if raw is None:
                break
            first_pts = raw.pts if first_pts is None else first_pts
            start = time.perf_counter()
            cut = shots.observe(raw)
            check += time.perf_counter() - start
            start = time.perf_counter()
            image = raw.to_bgr()
            bgr += time.perf_counter() - start
            result.size = f"{image.shape[1]}x{image.shape[0]}"
            result.frames_decoded += 1
            score = shots.detector.last_score
            if cut:
                result.cuts.append(round((raw.pts - first_pts) * rate) + 1)
                result.cut_scores.append(round(score, 1))
            else:
                result.max_in_shot_score = max(result.max_in_shot_score, round(score, 1))
            if sampler.take(raw.pts - first_pts):
                result.sampled_rule_cuts += sampled_rule.update(signature(raw.thumbnail(*THUMB_SIZE)))
    finally:
        source.close()
    n = max(result.frames_decoded, 1)
    result.ms_decode = round(decode * 1000 / n, 3)
    result.ms_cut_check = round(check * 1000 / n, 3)
    result.ms_full_bgr = round(bgr * 1000 / n, 3)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    results = [measure(shared_dir() / "media" / "video" / clip) for clip in CLIPS]
    print(f"{'clip':26} {'size':>9} {'frames':>6} {'decode':>7} {'cut chk':>7} {'full BGR':>8}  cuts")
    for r in results:
        cuts = ", ".join(f"{f} ({s})" for f, s in zip(r.cuts, r.cut_scores, strict=True)) or "none"
        print(
            f"{r.clip:26} {r.size:>9} {r.frames_decoded:>6} {r.ms_decode:>6.2f}ms {r.ms_cut_check:>5.3f}ms "
            f"{r.ms_full_bgr:>6.2f}ms  {cuts}; max in-shot score {r.max_in_shot_score}; "
            f"rule on sampled frames only: {r.sampled_rule_cuts} cuts"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
