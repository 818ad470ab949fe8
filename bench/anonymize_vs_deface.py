"""`vigil anonymize` side by side with deface (the issue's anchor), on the same clips in one run.

deface pins `opencv-python`, which must not enter Vigil's venv (it would shadow OpenCV contrib), so
the bench installs it in a venv of its own (`--deface-venv`, created on first use with pip from the
package index) and runs its command line. Both blur faces with their defaults (deface: CenterFace,
threshold 0.2, ellipse blur; Vigil: YuNet through the batch tracker, boxes held through gaps).
Printed per clip: wall time and fps of each (deface with its default single process; Vigil with
`--workers`), and leaked frames for three independent detectors (bench.anonymize_files.leaks: an
output frame where a detector finds a face at a place it finds one in the input).

    python -m bench.anonymize_vs_deface [--clips hamilton_640x360.mp4 ...] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from bench.anonymize_files import CHECKERS, SHARED, leaks
from vigil.anonymize.run import anonymize_videos
from vigil.config import VigilSettings
from vigil.detect import create_detector

DEFAULT_CLIPS = ("hamilton_640x360.mp4", "single_face.mp4", "expressions_640x360.mp4", "crowd_1080p.mp4")


def deface_command(venv: Path) -> Path:
    """The deface executable of `venv`, installing it there first when needed."""
    command = venv / "bin" / "deface"
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "deface"], check=True)
    return command


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def run_deface(command: Path, source: Path, out_dir: Path) -> tuple[Path, float]:
    output = out_dir / f"{source.stem}_deface.mp4"
    started = time.perf_counter()
    subprocess.run(
        [str(command), str(source), "-o", str(output), "--keep-audio"],
        check=True, capture_output=True,
    )  # fmt: skip
    return output, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clips", nargs="+", default=list(DEFAULT_CLIPS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--deface-venv", type=Path, default=Path(tempfile.gettempdir()) / "vigil-deface-venv")
    args = parser.parse_args()
    command = deface_command(args.deface_venv)
    models = SHARED / "models"
    detectors = {name: create_detector(config, [models]) for name, config in CHECKERS.items()}
    settings = VigilSettings(track={"models_dir": models})
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        for name in args.clips:
            source = SHARED / "media" / "video" / name
            frames = frame_count(source)
            deface_out, deface_s = run_deface(command, source, out_dir)
            started = time.perf_counter()
            report = anonymize_videos([source], out_dir, settings, force=True, workers=args.workers)
            vigil_s = time.perf_counter() - started
            row: dict[str, object] = {"clip": name, "frames": frames}
            for who, output, wall in (
                ("deface", deface_out, deface_s),
                ("vigil", report.done[source], vigil_s),
            ):
                kept = frame_count(output)
                result: dict[str, object] = {"wall_s": round(wall, 1), "fps": round(frames / wall, 1)}
                result["frames_out"] = kept
                if kept == frames:
                    found = leaks(source, output, detectors)
                    result["leaked_frames"] = {k: v["leaked_frames"] for k, v in found.items()}
                with av.open(str(output)) as container:
                    result["audio"] = [s.codec_context.name for s in container.streams.audio]
                row[who] = result
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
