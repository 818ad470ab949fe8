"""A truncated or unreadable file fails the activity analysis with a clear error; it is never
analysed as a person who left (the part that cannot be decoded read as "absent")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED
from vigil.activity.analyse import analyse_file
from vigil.config import load_settings
from vigil.errors import SourceUnsupported

EXPRESSIONS = SHARED / "media" / "video" / "expressions_640x360.mp4"  # 19.7 s, its index first


def test_a_truncated_file_fails_instead_of_reading_as_absent(tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(EXPRESSIONS.read_bytes()[:200_000])  # opens, but only ~2 s decode
    settings = load_settings(data_dir=tmp_path / "data", shared_dir=SHARED, activity={"workers": 1})
    with pytest.raises(SourceUnsupported) as error:
        analyse_file(cut, settings)
    message = str(error.value)
    assert "truncated or corrupt" in message and "lists frames up to 19.6 s" in message, message


def test_a_file_that_is_not_a_video_says_so_without_ffmpegs_error_number(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n", encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data", shared_dir=SHARED)
    with pytest.raises(SourceUnsupported) as error:
        analyse_file(text, settings)
    message = str(error.value)
    assert "Invalid data found" in message and "Errno" not in message, message
    assert message.count(str(text)) == 1, message


def test_the_whole_file_still_analyses(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", shared_dir=SHARED, activity={"workers": 1})
    assert analyse_file(EXPRESSIONS, settings).samples >= 38  # every 0.5 s of 19.7 s
