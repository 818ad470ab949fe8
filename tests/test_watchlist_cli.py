"""`vigil watchlist`: import a folder per person, add, list, show, remove, over the data directory
`vigil watch` uses; refusals are reported with their reason."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from tests.conftest import SHARED
from vigil.cli import app

PEOPLE = SHARED / "media" / "faces" / "people"


def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_SHARED_DIR": str(SHARED), "COLUMNS": "250"}
    result = CliRunner().invoke(app, ["watchlist", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def listed(tmp_path: Path) -> dict[str, int]:
    code, out, _ = run(tmp_path, "list", "--json")
    assert code == 0, out
    return {row["name"]: row["references"] for row in json.loads(out)}


def test_import_show_and_remove(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "import", str(PEOPLE))
    assert code == 0, err
    assert out.count("enrolled ") == 10
    people = listed(tmp_path)
    assert len(people) == 10 and people["obama"] == 2 and people["lin_manuel_miranda"] == 1
    assert (tmp_path / "data" / "vigil.db").is_file()  # the database `vigil watch` uses

    code, out, _ = run(tmp_path, "show", "obama")
    assert code == 0 and out.count("dlib_resnet_v1") == 2
    crops = [p for p in (tmp_path / "data" / "watchlist").rglob("*.webp")]
    assert len(crops) == 2 * 15  # a crop and its thumbnail per reference

    code, out, _ = run(tmp_path, "remove", "obama", "--yes")
    assert code == 0 and "removed 'obama' (4 image files)" in out
    assert "obama" not in listed(tmp_path)
    assert len(list((tmp_path / "data" / "watchlist").rglob("*.webp"))) == 2 * 13
    code, _, err = run(tmp_path, "show", "obama")
    assert code == 1 and "no watchlist person named 'obama'" in err


def test_add_reports_refused_photos(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((400, 300, 3), 128, np.uint8))
    photo = PEOPLE / "paul_rudd" / "1.jpg"
    code, out, err = run(
        tmp_path, "add", "Paul", str(photo), str(blank), "--category", "vip", "--notes", "hi"
    )
    assert code == 0, err
    assert "enrolled 'Paul'" in out and "with 1 reference photo" in out
    assert "refused blank.png: no face found" in err and "(reason: no_face)" in err
    code, _, err = run(tmp_path, "add", "Nobody", str(blank))
    assert code == 1 and "no usable photo of 'Nobody': blank.png: no face found" in err
    assert listed(tmp_path) == {"Paul": 1}
    code, _, err = run(tmp_path, "add", "Ghost", str(tmp_path / "missing.jpg"))
    assert code == 1 and "not a file" in err


def test_vigil_watch_writes_watchlist_alerts(tmp_path: Path) -> None:
    """Seed 004 headless: enrol a person with `vigil watchlist`, play the clip with `vigil watch
    --events`: alert events name them, with a level and a score, beside the pipeline's events."""
    code, _, err = run(tmp_path, "add", "lin", *map(str, (PEOPLE / "lin_manuel_miranda").iterdir()))
    assert code == 0, err
    events = tmp_path / "events.jsonl"
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_SHARED_DIR": str(SHARED), "COLUMNS": "200"}
    clip = SHARED / "media" / "video" / "hamilton_640x360.mp4"
    result = CliRunner().invoke(app, ["watch", str(clip), "--events", str(events)], env=env)
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    alerts = [e for e in lines if "alert" in e["type"]]
    assert alerts and {e["person"] for e in alerts} == {"lin"}
    assert alerts[0]["type"] == "watchlist_alert" and alerts[0]["level"] in {"probable", "match"}
    assert alerts[0]["score"] >= 0.45 and alerts[0]["track_id"] == 0  # lin opens the clip
    assert {"track_started", "face_embedded", "track_ended"} <= {e["type"] for e in lines}
