"""Batch inputs: files, recursive folders, the seed's project layout, the videos JSON list, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.batch.discover import (
    VIDEO_EXTENSIONS,
    discover_videos,
    read_videos_json,
    split_pending,
    tracking_output_path,
)
from vigil.errors import InputError, VigilError


def touch(path: Path, content: bytes = b"not really a video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path.resolve() / "root"  # resolved: the symlink test compares real paths
    for name in [
        "a.mp4",
        "sub/deeper/B.MOV",
        "sub/c.Mkv",
        "sub/d.avi",
        "sub/e.webm",
        "notes.txt",
        "a_tracking.json",  # our own output: never a video
        "sub/e.webm.part",  # partial download
        "._a.mp4",  # macOS resource fork
        ".cache/hidden.mp4",  # hidden folder
    ]:
        touch(root / name)
    return root


def test_extensions_are_the_issue_list() -> None:
    assert {".mp4", ".mov", ".avi", ".mkv", ".webm"} == VIDEO_EXTENSIONS


def test_folders_are_searched_recursively_for_every_extension_in_any_case(tree: Path) -> None:
    found = discover_videos([tree])
    assert found == [
        tree / "a.mp4",
        tree / "sub/c.Mkv",
        tree / "sub/d.avi",
        tree / "sub/deeper/B.MOV",
        tree / "sub/e.webm",
    ]
    assert all(path.is_absolute() for path in found)


def test_seed_project_layout(tmp_path: Path) -> None:
    base = tmp_path / "projets_extraits"
    expected = [
        touch(base / "projet_camille_001/docs/video1.mp4"),
        touch(base / "projet_camille_001/docs/video2.mov"),
        touch(base / "projet_zoe_002/docs/clip.mp4"),
    ]
    touch(base / "projet_camille_001/docs/video1.csv")
    touch(base / "projet_camille_001/docs/video1_audio.json")
    touch(base / "projet_camille_001/docs/video1_tracking.json")
    assert discover_videos([base]) == sorted(expected)


def test_duplicates_are_removed_by_resolved_path(tree: Path) -> None:
    link = tree.parent / "link.mp4"
    link.symlink_to(tree / "a.mp4")
    found = discover_videos([tree / "a.mp4", tree, tree / "sub/../a.mp4", link])
    assert found.count(tree / "a.mp4") == 1
    assert link not in found  # same file as a.mp4, which sorts first
    assert len(found) == 5


def test_relative_paths_become_absolute(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    assert discover_videos([Path("sub/d.avi")]) == [tree / "sub/d.avi"]


def test_directory_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    video = touch(tmp_path / "videos/x.mp4")
    (tmp_path / "videos/loop").symlink_to(tmp_path / "videos")
    assert discover_videos([tmp_path / "videos"]) == [video]


def test_empty_folder_gives_no_videos(tmp_path: Path) -> None:
    assert discover_videos([tmp_path]) == []


def test_videos_json_list_of_strings(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    listing = tmp_path / "videos_to_track.json"
    # The seed writes a list of path strings (absolute or relative to the current directory).
    listing.write_text(json.dumps([str(tree / "a.mp4"), "sub/d.avi", "sub/deeper", str(tree / "a.mp4")]))
    assert read_videos_json(listing) == [
        tree / "a.mp4",
        Path("sub/d.avi"),
        Path("sub/deeper"),
        tree / "a.mp4",
    ]
    found = discover_videos([tree / "sub/e.webm"], videos_json=listing)
    assert found == [tree / "a.mp4", tree / "sub/d.avi", tree / "sub/deeper/B.MOV", tree / "sub/e.webm"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON (line 1"),
        ('{"videos": ["a.mp4"]}', "must contain a list of path strings, found a JSON dict"),
        ('["a.mp4", 3]', "entry 1 must be a non-empty path string, got 3"),
        ('[{"path": "a.mp4"}]', "entry 0 must be a non-empty path string"),
        ('["  "]', "entry 0 must be a non-empty path string"),
    ],
)
def test_malformed_videos_json_is_an_input_error(tmp_path: Path, content: str, message: str) -> None:
    listing = tmp_path / "list.json"
    listing.write_text(content)
    with pytest.raises(InputError, match=r"list\.json") as caught:
        discover_videos([], videos_json=listing)
    assert message in str(caught.value)
    assert isinstance(caught.value, VigilError)


def test_missing_videos_json_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"videos JSON file .*absent\.json does not exist"):
        discover_videos([], videos_json=tmp_path / "absent.json")


def test_missing_entry_in_videos_json(tmp_path: Path) -> None:
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([str(tmp_path / "gone.mp4")]))
    with pytest.raises(InputError, match=r"input path .*gone\.mp4 does not exist"):
        discover_videos([], videos_json=listing)


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"input path .*nowhere does not exist"):
        discover_videos([tmp_path / "nowhere"])


def test_explicit_non_video_file_is_an_input_error(tree: Path) -> None:
    with pytest.raises(InputError, match=r"notes\.txt is not a video file \(expected one of .avi, .mkv"):
        discover_videos([tree / "notes.txt"])


def test_output_path_next_to_video_or_in_out_dir(tmp_path: Path) -> None:
    video = tmp_path / "docs/my.clip.MP4"
    assert tracking_output_path(video, None) == tmp_path / "docs/my.clip_tracking.json"
    assert tracking_output_path(video, tmp_path / "out") == tmp_path / "out/my.clip_tracking.json"


def test_existing_outputs_are_skipped_unless_forced(tree: Path, tmp_path: Path) -> None:
    videos = discover_videos([tree])
    # tree already holds a_tracking.json next to a.mp4
    todo, skipped = split_pending(videos, None, force=False)
    assert skipped == [tree / "a.mp4"]
    assert todo == [video for video in videos if video != tree / "a.mp4"]
    assert split_pending(videos, None, force=True) == (videos, [])

    out_dir = tmp_path / "out"
    touch(out_dir / "d_tracking.json")
    todo, skipped = split_pending(videos, out_dir, force=False)
    assert skipped == [tree / "sub/d.avi"]
    assert len(todo) == 4


def test_two_videos_writing_the_same_output_are_rejected(tmp_path: Path) -> None:
    first = touch(tmp_path / "p1/docs/video1.mp4")
    second = touch(tmp_path / "p2/docs/video1.mp4")
    assert split_pending([first, second], None, force=False) == ([first, second], [])
    with pytest.raises(InputError, match=r"would both write .*out/video1_tracking\.json"):
        split_pending([first, second], tmp_path / "out", force=False)
    same_folder = touch(tmp_path / "p1/docs/video1.mov")
    with pytest.raises(InputError, match="would both write"):
        split_pending([first, same_folder], None, force=False)
