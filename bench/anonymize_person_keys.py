"""The cost of joining faceless people's keys across chunks (vigil/anonymize/person_keys.py):
faces + clothes `recolor` rendered at 720p with and without following the people first.

    .venv/bin/python -m bench.anonymize_person_keys [--runs 3] [--clips hamilton_640x360.mp4 ...]

Each clip is scaled to 1280x720 (bench.anonymize_chunks.scaled), its faces found once (the
batch tracker, 1 worker), then `runs` rounds each rendering it twice in this process (one
worker, the default chunk plan) through `ChunkWorkers`: `join_keys` off (before) then on
(after), alternated so load changes hit both alike. Per render: wall time and this process's
CPU time per frame, the 1-minute load average before it. Medians over the runs. Also counts
the faceless keys of the chunks that the join maps to a key from the chunk before (people kept
across a boundary). JSON lines on stdout and `--json` (default
bench/results/anonymize_person_keys.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.anonymize_chunks import SHARED, scaled
from vigil.anonymize.chunks import ChunkWorkers, PersonsSpec
from vigil.anonymize.faces import VideoFaces, find_faces, tracking_settings
from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.person_keys import file_keys, follow_chunk
from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.persons import PersonAnonymizer
from vigil.anonymize.render import ChunkTask, RenderJob, plan_render, render
from vigil.batch.video import probe_video
from vigil.config import VigilSettings

CLIPS = ("hamilton_640x360.mp4", "crowd_1080p.mp4")


def faces_of(video: Path, settings: VigilSettings, work: Path) -> VideoFaces:
    batch = tracking_settings(settings.track, settings.anonymize.faces, workers=1)
    found, report = find_faces([video], batch, work)
    if video not in found:
        raise RuntimeError(f"{video}: face pass failed: {report.failed}")
    return found[video]


def render_once(faces: VideoFaces, settings: VigilSettings, target: Path, join: bool) -> dict[str, Any]:
    options = settings.anonymize
    info = probe_video(faces.video)
    schedule = FaceSchedule(faces.tracks, options.faces.hold_frames, faces.total_frames, faces.shot_cuts)
    job = RenderJob(faces.video, target, info, schedule, options.faces, options.video, True)
    persons = PersonsSpec(PersonOptions(style="recolor"), settings.model_search_dirs())
    with ChunkWorkers(1, persons, join_keys=join) as renderer:
        renderer.run([], info, lambda n: None, None)  # load the models before the clock starts
        load = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = render(job, runner=renderer.run)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "wall_ms_per_frame": round(wall * 1000 / stats.frames, 2),
        "cpu_ms_per_frame": round(cpu * 1000 / stats.frames, 2),
        "frames": stats.frames,
        "chunks": stats.chunks,
        "load_1min": round(load, 2),
    }


def kept_across(faces: VideoFaces, settings: VigilSettings, work: Path) -> dict[str, int]:
    """The chunks' faceless keys, the people (file keys) they form in more than one chunk, and
    the faceless keys that took the key of a face found along the joined track."""
    info = probe_video(faces.video)
    options = settings.anonymize
    schedule = FaceSchedule(faces.tracks, options.faces.hold_frames, faces.total_frames, faces.shot_cuts)
    tasks = [
        ChunkTask(faces.video, work / "unused.mp4", first, last,
                  [(schedule.regions(n), schedule.track_numbers(n)) for n in range(first, last + 1)],
                  options.faces, options.video)
        for first, last in plan_render(info.total_frames)
    ]  # fmt: skip
    anonymizer = PersonAnonymizer(PersonOptions(style="recolor"), settings.model_search_dirs())
    try:
        people = [follow_chunk(task, info, anonymizer) for task in tasks]
    finally:
        anonymizer.close()
    maps = file_keys(people)
    chunks_of = Counter(key for keys in maps for key in set(keys.values()))
    return {
        "faceless_keys": sum(len(keys) for keys in maps),
        "people_across_chunks": sum(1 for count in chunks_of.values() if count > 1),
        "faceless_given_a_face_key": sum(1 for keys in maps for key in keys.values() if key >= 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--json", type=Path, default=Path("bench/results/anonymize_person_keys.json"))
    args = parser.parse_args()
    settings = VigilSettings(track={"models_dir": SHARED / "models", "cpu_workers": 1})
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-keys-") as folder:
        work = Path(folder)
        for clip in args.clips:
            video = scaled(SHARED / "media" / "video" / clip, work / f"{Path(clip).stem}_720p.mp4")
            faces = faces_of(video, settings, work)
            runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            for _ in range(args.runs):
                for name, join in (("before", False), ("after", True)):
                    runs[name].append(render_once(faces, settings, work / f"{name}.mp4", join))
                    print(json.dumps({"clip": clip, "variant": name, **runs[name][-1]}), flush=True)
            row: dict[str, Any] = {"clip": clip, "size": "1280x720", "runs": args.runs}
            for name, measured in runs.items():
                for field in ("wall_ms_per_frame", "cpu_ms_per_frame", "load_1min"):
                    row[f"{name}_{field}"] = round(statistics.median(m[field] for m in measured), 2)
            row["frames"], row["chunks"] = runs["after"][0]["frames"], runs["after"][0]["chunks"]
            row.update(kept_across(faces, settings, work))
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
