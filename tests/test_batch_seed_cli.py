"""Seed 000's manager interface on `vigil track`: its snake_case flags as hidden aliases, and its
`[Progression-MultiLine]`, `[Gestionnaire]` and `[PROFILING]` lines with several workers."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from tests.batch_util import clean_env, clip
from tests.conftest import shared_file
from vigil.batch.profiling import Profiler, ProfileWindow, profiling_line
from vigil.batch.progress import VideoProgress, manager_line, multiline_line
from vigil.cli import app


def invoke(*args: str, profiling: bool = False) -> tuple[int, str]:
    env = clean_env()
    env["VIGIL_TRACK_MODELS_DIR"] = str(shared_file("models/face_detection_yunet_2023mar.onnx").parent)
    env["COLUMNS"] = "200"
    if profiling:
        env["STEP5_ENABLE_PROFILING"] = "1"
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_seed_flags_and_lines_with_two_workers(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mov"
    broken.write_bytes(b"\x00" * 4096)
    listing = tmp_path / "videos.json"
    listing.write_text(json.dumps([str(broken), str(clip("single_face.mp4"))]))
    code, output = invoke(
        "track",
        "--videos_json_path",
        str(listing),
        "--face_engine",
        "yunet",
        "--mp_num_workers_internal",
        "2",
        "--chunk_size",
        "40",
        "--disable_gpu",
        "--out-dir",
        str(tmp_path / "out"),
        profiling=True,
    )
    assert code == 3, output  # broken.mov failed
    meta = json.loads((tmp_path / "out" / "single_face_tracking.json").read_text())["metadata"]
    assert meta["workers"] == 2 and meta["chunks"] == 2 and meta["tracking_engine"] != ""
    lines = output.splitlines()
    assert "[Gestionnaire] Succès pour single_face.mp4" in lines
    assert "[Gestionnaire] Échec pour broken.mov" in lines
    multiline = [line for line in lines if line.startswith("[Progression-MultiLine]")]
    # A line as work starts and per finished chunk: 40 frames done first, or 32 when the short ends first.
    done = [re.findall(r"single_face\.mp4: Processing frame (\d+)/72 \(\d+%\)", line) for line in multiline]
    counts = {int(found[0]) for found in done if found}
    assert counts & {32, 40} and counts <= {0, 32, 40, 72}, multiline
    # Written by the parent from the workers' measures: every 20 frames of the 72, both chunks.
    profiling = [line for line in lines if line.startswith("[PROFILING] single_face.mp4")]
    spans = sorted(tuple(map(int, re.findall(r"frames (\d+)-(\d+)", line)[0])) for line in profiling)
    assert spans == [(1, 20), (21, 40), (41, 60), (61, 72)], profiling
    assert all(re.search(r": \d+\.\d\d ms/frame; .*detect=\d+\.\d\d", line) for line in profiling)
    assert len({re.findall(r"worker (\d+)", line)[0] for line in profiling}) >= 1


def test_seed_flags_are_hidden_and_checked(tmp_path: Path) -> None:
    code, output = invoke("track", "--help")
    assert code == 0 and "--cpu_internal_workers" not in output and "--mp_num_workers_internal" not in output
    video = str(clip("single_face.mp4"))
    code, output = invoke("track", video, "--workers", "2", "--mp_num_workers_internal", "3")
    assert code == 1 and "--workers 2 and --mp_num_workers_internal 3 disagree" in output
    code, output = invoke(
        "track",
        video,
        "--engine",
        "yunet",
        "--face_engine",
        "yunet",
        "--cpu_internal_workers",
        "1",
        "--out-dir",
        str(tmp_path),
    )
    assert code == 0, output
    assert json.loads((tmp_path / "single_face_tracking.json").read_text())["metadata"]["workers"] == 1


def test_line_formats() -> None:
    a = VideoProgress(Path("/v/a.mp4"), 150, 2500, 1, 5, "running")
    b = VideoProgress(Path("/v/b.mp4"), 300, 3000, 1, 5, "running")
    done = VideoProgress(Path("/v/c.mp4"), 10, 10, 1, 1, "done")
    assert multiline_line([a, done, b]) == (
        "[Progression-MultiLine]a.mp4: Processing frame 150/2500 (6%)"
        " || b.mp4: Processing frame 300/3000 (10%)"
    )
    assert multiline_line([done]) is None
    assert manager_line(done) == "[Gestionnaire] Succès pour c.mp4"
    assert (
        manager_line(VideoProgress(Path("d.mp4"), 0, 0, 0, 0, "failed", "x"))
        == "[Gestionnaire] Échec pour d.mp4"
    )
    assert manager_line(a) is None
    window = ProfileWindow(21, 40, 0.25, {"detect": 0.15, "landmarks": 0.05})
    assert profiling_line("a.mp4", 1, 42, window) == (
        "[PROFILING] a.mp4 frames 21-40 (chunk 1, worker 42): 12.50 ms/frame;"
        " detect=7.50, landmarks=2.50 ms/frame"
    )


def test_profiler_cuts_every_20_frames() -> None:
    timings: dict[str, float] = {"detect": 0.0}
    profiler = Profiler(timings)
    for number in range(5, 50):
        timings["detect"] += 0.001
        profiler.frame_done(number)
    windows = profiler.finish(49)
    assert [(w.first, w.last) for w in windows] == [(5, 24), (25, 44), (45, 49)]
    assert [round(w.stages_s["detect"], 6) for w in windows] == [0.02, 0.02, 0.005]
