"""`vigil anonymize`: defaults from the settings in --help, skip-existing and --force, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import shared_file
from tests.test_cli_help import flat
from vigil.anonymize.settings import FaceOptions
from vigil.cli import app

pytestmark = pytest.mark.timeout(300)
WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}


def _config(tmp_path: Path) -> Path:
    """A settings file that finds the shared models and runs the face pass in this process."""
    models = shared_file("models/face_detection_yunet_2023mar.onnx").parent
    path = tmp_path / "vigil.yaml"
    path.write_text(f"track:\n  models_dir: {models}\n  cpu_workers: 1\n", encoding="utf-8")
    return path


def test_help_shows_the_settings_defaults() -> None:
    result = CliRunner().invoke(app, ["anonymize", "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    shown = flat(result.output)
    faces = FaceOptions()
    assert f"[default: (anonymize.faces.style: {faces.style})]" in shown
    assert f"[default: (anonymize.faces.pad: {faces.pad:g})]" in shown
    assert "[default: (anonymize.strip_metadata: --strip-metadata)]" in shown
    assert "[default: (anonymize.persons.style: none)]" in shown


def test_skips_existing_outputs_unless_forced(tmp_path: Path) -> None:
    video, out, config = shared_file("media/video/single_face.mp4"), tmp_path / "out", _config(tmp_path)
    args = ["anonymize", str(video), "--out-dir", str(out), "--faces", "pixelate", "-c", str(config)]
    first = CliRunner().invoke(app, args, env=WIDE)
    assert first.exit_code == 0, first.output
    output, sidecar = out / "single_face_anonymized.mp4", out / "single_face_anonymized.json"
    assert output.stat().st_size > 10_000
    report = json.loads(sidecar.read_text(encoding="utf-8"))
    assert report["options"]["faces"]["style"] == "pixelate" and report["frames"] == 72
    assert report["faces"]["frames_with_faces"] >= 60
    made = output.stat().st_mtime_ns

    again = CliRunner().invoke(app, args, env=WIDE)
    assert again.exit_code == 0 and "skipped" in again.output, again.output
    assert output.stat().st_mtime_ns == made

    # What a killed run (SIGKILL: no cleanup) leaves; the next run writing these outputs removes it.
    killed = [
        out / ".single_face_anonymized.mp4.k1ll3d00.mp4",
        out / ".single_face_anonymized.json.k1ll3d00.json",
    ]
    for leftover in killed:
        leftover.write_bytes(b"")
    forced = CliRunner().invoke(app, [*args, "--force", "--keep-metadata"], env=WIDE)
    assert forced.exit_code == 0, forced.output
    assert sorted(p.name for p in out.iterdir()) == [
        "single_face_anonymized.json",
        "single_face_anonymized.mp4",
    ]
    assert oct(output.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not the temporary's 0600
    assert output.stat().st_mtime_ns != made
    assert json.loads(sidecar.read_text(encoding="utf-8"))["metadata_removed"] == []


def test_persons_option_covers_the_body(tmp_path: Path) -> None:
    """--persons overrides anonymize.persons.style: with `silhouette` the close-up's body is filled,
    the shirt left of the face's box included, which faces alone leave as it is."""
    video, config = shared_file("media/video/single_face.mp4"), _config(tmp_path)
    changed = {}
    for style in ("none", "silhouette"):
        out = tmp_path / style
        args = ["anonymize", str(video), "--out-dir", str(out), "--persons", style, "-c", str(config)]
        result = CliRunner().invoke(app, args, env=WIDE)
        assert result.exit_code == 0, result.output
        report = json.loads((out / "single_face_anonymized.json").read_text(encoding="utf-8"))
        assert report["options"]["persons"] == style
        changed[style] = _changed_share(video, out / "single_face_anonymized.mp4", frame=36)
    assert changed["none"] < 0.02, changed
    assert changed["silhouette"] > 0.2, changed


def _changed_share(source: Path, output: Path, frame: int) -> float:
    """Share of the pixels of frame `frame`'s bottom-left corner (the shirt, left of the face's
    padded box) where a colour channel moved by more than 40."""
    import av
    import numpy as np

    def picture(path: Path) -> np.ndarray:
        with av.open(str(path)) as container:
            for number, decoded in enumerate(container.decode(video=0)):
                if number == frame:
                    return np.asarray(decoded.to_ndarray(format="bgr24"), dtype=np.int16)
        raise AssertionError(f"{path} has no frame {frame}")

    moved = np.abs(picture(source) - picture(output)).max(axis=2)[270:, :150]
    return float(np.mean(moved > 40))


def test_bad_inputs_exit_1_with_the_reason(tmp_path: Path) -> None:
    video = shared_file("media/video/single_face.mp4")
    bad_style = CliRunner().invoke(app, ["anonymize", str(video), "--faces", "smudge"], env=WIDE)
    assert bad_style.exit_code == 1, bad_style.output
    shown = flat(bad_style.output)
    assert "--faces: Input should be 'blur', 'pixelate', 'solid' or 'mask' (got 'smudge')" in shown, shown
    assert "pydantic" not in shown and "FaceOptions" not in shown  # the option, not the class
    bad_persons = CliRunner().invoke(app, ["anonymize", str(video), "--persons", "paint"], env=WIDE)
    assert bad_persons.exit_code == 1, bad_persons.output
    assert "--persons: Input should be 'none', 'recolor'" in flat(bad_persons.output)
    bad_env = CliRunner().invoke(
        app, ["anonymize", str(video)], env={**WIDE, "VIGIL_ANONYMIZE__PERSONS__STYLE": "paint"}
    )
    assert bad_env.exit_code == 1 and "anonymize.persons.style: Input should be" in flat(bad_env.output)
    assert "errors.pydantic.dev" not in bad_env.output
    missing = CliRunner().invoke(app, ["anonymize", str(tmp_path / "nope.mp4")], env=WIDE)
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert not list(tmp_path.glob("*_anonymized.*"))


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
