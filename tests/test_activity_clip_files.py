"""Saved clips as files (vigil/activity/clip_files.py): listing them with what their MP4 holds, deleting
one, and pruning after a save (`activity.clips_keep_days`, `clips_max_mb`), which never removes
the clip just saved. Clips are real ones, saved from the flash-and-beep clip's packets."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.test_activity_clip import _fill_from_file, sync_clip  # noqa: F401 (fixture)
from vigil.activity.clip import (
    ClipNotFound,
    SavedClip,
    adopt_clips,
    camera_clip_folder,
    clip_folder,
    named_clip_folder,
    save_clip,
)
from vigil.activity.clip_files import ClipRetention, delete_clip, prune_clips, saved_clips
from vigil.activity.ring import PacketRing

DAY = 86400.0
DESK, HALL = 1, 2  # camera ids


def _age(path: Path, days: float) -> None:
    """The file as if written `days` ago (its mtime, what pruning and the listing read)."""
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def _fake(folder: Path, name: str, size: int, days: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\0" * size)
    _age(path, days)
    return path


@pytest.fixture(scope="module")
def ring(sync_clip: Path) -> PacketRing:  # noqa: F811
    ring = PacketRing(seconds=8.0)
    _fill_from_file(ring, sync_clip, wall0=1_700_000_000.0)
    return ring


def test_saved_clips_lists_what_each_file_holds_newest_first(ring: PacketRing, tmp_path: Path) -> None:
    folder = clip_folder(tmp_path, DESK)
    first = save_clip(ring, 3.0, folder, "desk")
    second = save_clip(ring, 5.0, folder, "desk")
    _age(first.path, 1.0)
    (folder / ".x.mp4.part").write_bytes(b"half")  # a temporary is no clip
    (folder / "notes.txt").write_text("not a clip")
    listed = saved_clips(folder)
    assert [c.path for c in listed] == [second.path, first.path]
    newest = listed[0]
    assert newest.size == second.size == second.path.stat().st_size
    assert newest.duration_s is not None and abs(newest.duration_s - 5.0) < 0.1
    assert (newest.video_codec, newest.audio_codec) == ("h264", "aac")
    # The start is the name's (to the second): the clip's wall clock, 1_700_000_000 + 14 - 5.
    assert newest.start is not None and second.start is not None
    assert abs(newest.start - second.start) < 1.0
    assert abs(listed[1].saved - (time.time() - DAY)) < 5
    assert saved_clips(tmp_path / "clips" / "nobody") == []


def test_an_unreadable_file_is_listed_without_facts(tmp_path: Path) -> None:
    folder = clip_folder(tmp_path, DESK)
    broken = _fake(folder, "desk_20261206T101010Z_10s.mp4", 100, 0.0)
    (clip,) = saved_clips(folder)
    assert clip.path == broken and clip.size == 100
    assert (clip.duration_s, clip.video_codec, clip.audio_codec) == (None, None, None)
    assert clip.start == 1796551810.0  # 2026-12-06T10:10:10Z


def test_delete_clip_removes_one_and_refuses_other_paths(ring: PacketRing, tmp_path: Path) -> None:
    desk = clip_folder(tmp_path, DESK)
    saved = save_clip(ring, 3.0, desk, "desk")
    (tmp_path / "vigil.db").write_text("secret")
    for name in ("../../vigil.db", "..%2Fvigil.db", ".hidden.mp4", "nothing.mp4", "x.txt"):
        with pytest.raises(ClipNotFound):
            delete_clip(desk, name)
    assert (tmp_path / "vigil.db").exists()
    delete_clip(desk, saved.path.name)
    assert not saved.path.exists()
    with pytest.raises(ClipNotFound):
        delete_clip(desk, saved.path.name)


def test_pruning_by_age_keeps_the_recent_and_the_one_just_saved(ring: PacketRing, tmp_path: Path) -> None:
    desk, hall = clip_folder(tmp_path, DESK), clip_folder(tmp_path, HALL)
    old_desk = _fake(desk, "desk_20261001T000000Z_10s.mp4", 10, 40)
    recent_desk = _fake(desk, "desk_20261201T000000Z_10s.mp4", 10, 5)
    old_hall = _fake(hall, "hall_20261001T000000Z_10s.mp4", 10, 31)  # a camera that saves no more
    stale_part = _fake(desk, ".abc.mp4.part", 10, 1)
    fresh_part = _fake(desk, ".def.mp4.part", 10, 0)
    saved: SavedClip = save_clip(ring, 3.0, desk, "desk")
    _age(saved.path, 100)  # even with an old mtime (a clock set back) the clip just saved stays
    removed = prune_clips(tmp_path, desk, ClipRetention(keep_days=30, max_bytes=0), keep=saved.path)
    assert sorted(removed) == sorted([old_desk, old_hall])
    assert saved.path.exists() and recent_desk.exists()
    assert not old_desk.exists() and not old_hall.exists()
    assert not stale_part.exists() and fresh_part.exists()  # a save in progress keeps its temporary
    # 0 days: kept until deleted by hand.
    _fake(desk, "desk_20200101T000000Z_10s.mp4", 10, 2000)
    assert prune_clips(tmp_path, desk, ClipRetention(keep_days=0, max_bytes=0), keep=saved.path) == []


def test_pruning_by_size_removes_the_oldest_of_that_camera(ring: PacketRing, tmp_path: Path) -> None:
    desk, hall = clip_folder(tmp_path, DESK), clip_folder(tmp_path, HALL)
    oldest = _fake(desk, "desk_a_10s.mp4", 400, 3)
    older = _fake(desk, "desk_b_10s.mp4", 400, 2)
    newer = _fake(desk, "desk_c_10s.mp4", 400, 1)
    hall_clip = _fake(hall, "hall_a_10s.mp4", 5000, 3)  # another camera's folder: its own budget
    saved = save_clip(ring, 3.0, desk, "desk")
    limit = saved.size + 900  # the new clip and two small ones fit
    removed = prune_clips(tmp_path, desk, ClipRetention(keep_days=0, max_bytes=limit), keep=saved.path)
    assert removed == [oldest]
    assert saved.path.exists() and older.exists() and newer.exists() and hall_clip.exists()
    # A limit below the new clip alone: everything else goes, the clip just saved stays.
    removed = prune_clips(tmp_path, desk, ClipRetention(keep_days=0, max_bytes=1000), keep=saved.path)
    assert sorted(removed) == sorted([older, newer]) and saved.path.exists()
    assert [c.path for c in saved_clips(desk)] == [saved.path]


def test_a_camera_s_folder_is_named_by_its_id_never_like_a_name_folder(tmp_path: Path) -> None:
    """Clips are kept by camera id (a rename keeps them); the folders named after cameras before
    are told apart by their names alone: `=` is in no name folder, even of a camera named so."""
    assert clip_folder(tmp_path, 7) == tmp_path / "clips" / "id=7"
    names = ["front door", "front_door", "front/door", ".front door.", "id=7", "7", "../7"]
    folders = [named_clip_folder(tmp_path, name) for name in names]
    assert len(set(folders)) == len(names)  # 'front door' and 'front_door' used to share one
    assert folders[1] == tmp_path / "clips" / "front_door"  # a safe name keeps its folder
    assert all(folder.parent == tmp_path / "clips" and "=" not in folder.name for folder in folders)
    assert named_clip_folder(tmp_path, "7") != clip_folder(tmp_path, 7)


def test_a_name_folder_s_clips_move_to_the_camera_s_folder(ring: PacketRing, tmp_path: Path) -> None:
    """Clips saved before they were kept by id: the first look at a camera's folder moves its name
    folder's clips there (the folder renamed whole when the id folder is new), keeping their
    files (same inode: nothing copied) and save times."""
    legacy = named_clip_folder(tmp_path, "front door")
    old = save_clip(ring, 3.0, legacy, "front door")
    _age(old.path, 2)
    inode = old.path.stat().st_ino
    folder = camera_clip_folder(tmp_path, DESK, "front door")
    assert folder == clip_folder(tmp_path, DESK) and not legacy.exists()
    (listed,) = saved_clips(folder)
    assert listed.path == folder / old.path.name and listed.path.stat().st_ino == inode
    assert abs(listed.saved - (time.time() - 2 * DAY)) < 5 and listed.duration_s is not None
    assert camera_clip_folder(tmp_path, DESK, "front door") == folder  # nothing more to do


def test_merging_into_an_existing_folder_loses_no_clip(ring: PacketRing, tmp_path: Path) -> None:
    """The id folder has clips already, one with the same name as a moved one (two saves of the
    same second, one in each folder): both stay, the moved one as `-2`. A clip linked by a move
    that was cut short (it has both names) keeps the one file; a save's temporary is left to it."""
    folder = clip_folder(tmp_path, DESK)
    new = save_clip(ring, 3.0, folder, "desk")
    legacy = named_clip_folder(tmp_path, "desk")
    same_name = save_clip(ring, 3.0, legacy, "desk")
    assert same_name.path.name == new.path.name
    other = save_clip(ring, 4.0, legacy, "desk")
    half_moved = save_clip(ring, 5.0, legacy, "desk")
    os.link(half_moved.path, folder / half_moved.path.name)  # a move stopped between link and unlink
    part = legacy / ".save.mp4.part"
    part.write_bytes(b"being written")
    contents = {p: p.read_bytes() for p in (new.path, same_name.path, other.path, half_moved.path)}
    moved = adopt_clips(legacy, folder)
    renamed = folder / f"{new.path.stem}-2.mp4"
    assert sorted(moved) == sorted([renamed, folder / other.path.name, folder / half_moved.path.name])
    assert sorted(c.path.name for c in saved_clips(folder)) == sorted(
        [new.path.name, renamed.name, other.path.name, half_moved.path.name]
    )
    assert new.path.read_bytes() == contents[new.path]
    assert renamed.read_bytes() == contents[same_name.path]
    assert (folder / other.path.name).read_bytes() == contents[other.path]
    assert (folder / half_moved.path.name).read_bytes() == contents[half_moved.path]
    assert [p.name for p in legacy.iterdir()] == [part.name]  # only the temporary; the folder stays
    assert adopt_clips(legacy, folder) == []
    assert adopt_clips(tmp_path / "clips" / "nobody", folder) == []  # no such folder


def test_a_prune_never_removes_a_clip_saved_after_its_own(ring: PacketRing, tmp_path: Path) -> None:
    """Two saves at once: the first one's prune must not take the second one's new clip (its answer
    would point at a 404)."""
    desk = clip_folder(tmp_path, DESK)
    first = save_clip(ring, 3.0, desk, "desk")
    second = save_clip(ring, 4.0, desk, "desk")
    _age(first.path, 0.001)  # saved a moment before the other
    removed = prune_clips(tmp_path, desk, ClipRetention(keep_days=0, max_bytes=1000), keep=first.path)
    assert removed == [] and first.path.exists() and second.path.exists()


def test_a_prune_that_cannot_read_a_folder_logs_and_removes_nothing(
    ring: PacketRing, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    desk = clip_folder(tmp_path, DESK)
    saved = save_clip(ring, 3.0, desk, "desk")
    not_a_folder = tmp_path / "clips" / "hall"
    not_a_folder.write_bytes(b"a file where a camera's folder should be")
    removed = prune_clips(tmp_path, not_a_folder, ClipRetention(keep_days=0, max_bytes=1), keep=saved.path)
    assert removed == [] and saved.path.exists()
    assert "clips could not be pruned" in caplog.text
