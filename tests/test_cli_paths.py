"""CLI tables keep whole file paths: on a pipe or a narrow terminal (80 columns, rich's width when
the output is not a terminal) a path cell folds onto more lines instead of ending in "…", so the
user sees which file a row is about."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from tests.conftest import SHARED
from tests.test_store import obs, open_store
from vigil.activity.cli import report_tables
from vigil.activity.evaluate import ClipScore, EvalReport
from vigil.activity.labels import Activity
from vigil.cli import app

NARROW = {"COLUMNS": "80"}


def column_text(output: str, header: str) -> str:
    """The cells of the table column named `header` (its name may wrap over the header lines),
    each row's folded lines joined back (the paths here hold no spaces, so the pieces join
    without one)."""
    lines = output.splitlines()
    heads = [line.split("┃")[1:-1] for line in lines if line.startswith("┃")]
    names = [" ".join(part for part in (h[i].strip() for h in heads) if part) for i in range(len(heads[0]))]
    index = names.index(header) + 1
    body = [line for line in lines if line.startswith("│")]
    assert body, f"no rows under {header!r}:\n{output}"
    return "".join(line.split("│")[index].strip() for line in body)


def done_before(tmp_path: Path, out_name: str, output_suffix: str) -> tuple[Path, Path, Path]:
    """A video with a long path whose output (also a long path) exists: the command skips it,
    never reading the video, and lists both paths in its summary. (video, out dir, output)."""
    folder = tmp_path / "recordings_of_the_north_entrance_camera_december"
    folder.mkdir()
    video = folder / "north_entrance_2026-12-06T07-30-00_to_2026-12-06T08-00-00.mp4"
    video.write_bytes(b"")
    out = tmp_path / out_name
    out.mkdir()
    output = out / f"{video.stem}{output_suffix}"
    output.write_bytes(b"done before")
    return video, out, output


def test_anonymize_summary_shows_whole_paths(tmp_path: Path) -> None:
    video, out, output = done_before(tmp_path, "anonymised_outputs_for_the_privacy_review", "_anonymized.mp4")
    result = CliRunner().invoke(app, ["anonymize", str(video), "--out-dir", str(out)], env=NARROW)
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert column_text(result.output, "video") == video.name
    assert column_text(result.output, "output / reason") == str(output)


def test_visitor_photos_show_whole_paths(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    store = open_store(url, tmp_path)
    try:
        visitor = store.observe(obs(0, datetime(2026, 11, 20, 12).astimezone(), track=1)).visitor_id
        root = store.crops.root
    finally:
        store.close()
    env = {**NARROW, "VIGIL_DATA_DIR": str(tmp_path / "data")}
    shown = CliRunner().invoke(app, ["visitors", "show", str(visitor), "--db", url, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    (sighting,) = json.loads(shown.output)
    photo = sighting["image_path"]
    assert Path(photo).is_file() and Path(photo).is_relative_to(root)

    table = CliRunner().invoke(app, ["visitors", "show", str(visitor), "--db", url], env=env)
    assert table.exit_code == 0, table.output
    assert column_text(table.output, "photo") == photo
    listed = CliRunner().invoke(app, ["visitors", "list", "--db", url, "--date", "2026-11-20"], env=env)
    assert listed.exit_code == 0, listed.output
    reference = column_text(listed.output, "reference photo")
    assert reference.startswith(str(root)) and Path(reference).is_file(), reference


def test_activity_eval_clips_show_whole_file_names() -> None:
    """`vigil activity eval`'s per-clip table, rendered as on a pipe (its command needs the
    labelled media and models; the table is the same)."""
    clip = "/srv/media/activity/asleep/night_shift_bedroom_camera_2026-12-06T02-00-00.mp4"
    report = EvalReport(
        classifier="rules", seconds=60, macro_f1=0.5, accuracy=0.5, classes=[],
        confusion_labels=[], confusion=[],
        clips=[ClipScore(path=clip, truth=Activity.ASLEEP, predicted=Activity.ASLEEP, accuracy=1.0)],
    )  # fmt: skip
    console = Console(file=io.StringIO(), width=80)
    console.print(report_tables(report)[-1])
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert column_text(shown, "clip") == Path(clip).name


def test_watchlist_reference_photos_show_whole_paths(tmp_path: Path) -> None:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_SHARED_DIR": str(SHARED), **NARROW}
    photo = SHARED / "media" / "faces" / "people" / "paul_rudd" / "1.jpg"
    added = CliRunner().invoke(app, ["watchlist", "add", "Paul", str(photo)], env=env)
    assert added.exit_code == 0, added.output
    shown = CliRunner().invoke(app, ["watchlist", "show", "Paul"], env=env)
    assert shown.exit_code == 0, shown.output
    crop = Path(column_text(shown.stdout, "photo"))
    assert crop.is_relative_to(tmp_path / "data" / "watchlist") and crop.is_file(), crop


def test_track_summary_shows_whole_paths(tmp_path: Path) -> None:
    video, out, output = done_before(tmp_path, "tracking_outputs_for_the_december_review", "_tracking.json")
    env = {**NARROW, "VIGIL_SHARED_DIR": str(SHARED)}  # the engine is checked before the skip
    result = CliRunner().invoke(app, ["track", str(video), "--out-dir", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output
    assert column_text(result.output, "video") == video.name
    assert column_text(result.output, "output / reason") == str(output)
