"""A faceless person's clothes colour across chunk boundaries (issue 17 item 3, person_keys.py).

Each chunk renders from a fresh persons state; its faceless people are followed first and their
keys joined across the boundaries, so a person whose face is not found keeps one colour through
the file, and two faceless people still get two colours."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import shared_file
from tests.test_anonymize_files_clips import remux, vigil_settings
from vigil.anonymize.chunks import ChunkWorkers, PersonsSpec
from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.person_keys import ChunkPeople, FollowedBlobs, blobs_path, file_keys, follow_chunk
from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.persons import PersonAnonymizer, PersonMask
from vigil.anonymize.render import ChunkTask, RenderJob, RgbScaler, plan_render, render
from vigil.anonymize.segment import TrackEnd, TrackStart, iou
from vigil.anonymize.styles import FaceRegion
from vigil.batch.video import FrameReader, VideoInfo, probe_video
from vigil.types import Image

pytestmark = pytest.mark.timeout(600)


def _chunk(first: int, negatives: int, starts: list[TrackStart], ends: list[TrackEnd]) -> ChunkPeople:
    return ChunkPeople(first, negatives, tuple(starts), tuple(ends))


def test_a_track_crossing_a_boundary_keeps_its_key_and_others_get_their_own() -> None:
    left, right = (10, 10, 50, 100), (200, 10, 240, 100)
    chunks = [
        # chunk 0: A (-1) then B (-2), both kept at the end
        _chunk(1, 2, [TrackStart(0, -1, left)], [TrackEnd(-1, left, 0), TrackEnd(-2, right, 0)]),
        # chunk 1: met in the other order: B (-1), A (-2); C (-3) born late, alone
        _chunk(31, 3, [TrackStart(0, -1, right), TrackStart(0, -2, left)], [TrackEnd(-2, left, 0)]),
        _chunk(61, 1, [TrackStart(0, -1, left)], []),
    ]
    maps = file_keys(chunks)
    assert maps[0] == {-1: -1, -2: -2}
    assert maps[1][-2] == -1 and maps[1][-1] == -2  # A and B keep their keys
    assert maps[1][-3] not in (-1, -2)  # a new person: a key of their own
    assert maps[2] == {-1: -1}  # A again, two boundaries on
    for keys in maps:  # never two of a chunk's people on one key
        assert len(set(keys.values())) == len(keys)


def test_joins_follow_the_tracker_s_rules() -> None:
    box, far = (10, 10, 50, 100), (300, 10, 340, 100)
    # A face track's person continues without a face: the face's key is kept.
    maps = file_keys([_chunk(1, 0, [], [TrackEnd(4, box, 0)]), _chunk(31, 1, [TrackStart(0, -1, box)], [])])
    assert maps[1] == {-1: 4}
    # A faceless person whose face is found in the next chunk takes that face's key (0 included).
    maps = file_keys([_chunk(1, 1, [], [TrackEnd(-1, box, 0)]), _chunk(31, 0, [TrackStart(0, 0, box)], [])])
    assert maps[0] == {-1: 0}
    # Two different face tracks are two people: nothing joined through them.
    chunks = [
        _chunk(1, 1, [], [TrackEnd(3, box, 0), TrackEnd(-1, far, 0)]),
        _chunk(31, 0, [TrackStart(0, 5, box)], []),
    ]
    assert file_keys(chunks) == [{-1: -1}, {}]
    # Gone longer than the tracker keeps a track (15 frames): someone new.
    gone = [_chunk(1, 1, [], [TrackEnd(-1, box, 10)]), _chunk(31, 1, [TrackStart(6, -1, box)], [])]
    assert file_keys(gone) == [{-1: -1}, {-1: -2}]
    back = [_chunk(1, 1, [], [TrackEnd(-1, box, 10)]), _chunk(31, 1, [TrackStart(5, -1, box)], [])]
    assert file_keys(back) == [{-1: -1}, {-1: -1}]
    # Not overlapping enough (IoU < 0.2): someone else.
    moved = (45, 10, 85, 100)
    assert iou(box, moved) < 0.2
    apart = [_chunk(1, 1, [], [TrackEnd(-1, box, 0)]), _chunk(31, 1, [TrackStart(0, -1, moved)], [])]
    assert file_keys(apart) == [{-1: -1}, {-1: -2}]


def _hue(image: Image, mask: PersonMask) -> float:
    """The hue (degrees) the painted pixels of `mask` carry: the mean chroma angle in YCrCb of the
    fully painted, mid-luminance pixels (where the recolour has room for its full chroma)."""
    x1, y1, x2, y2 = mask.box
    ycrcb = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_BGR2YCrCb).astype(np.float64)
    painted = (mask.alpha > 0.95) & (ycrcb[..., 0] > 60) & (ycrcb[..., 0] < 190)
    assert painted.sum() > 500, "too few painted pixels to measure a hue"
    cr, cb = ycrcb[..., 1][painted] - 128, ycrcb[..., 2][painted] - 128
    return math.degrees(math.atan2(cb.mean(), cr.mean())) % 360


def _apart(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def _render_like_chunks(
    tasks: list[ChunkTask],
    info: VideoInfo,
    keys: list[dict[int, int]],
    anonymizer: PersonAnonymizer,
    keep: set[int],
) -> dict[int, tuple[Image, list[PersonMask]]]:
    """As render.render_chunk calls the persons pass (chunks.person_hook): reset with the chunk's
    keys, then every frame with the people `follow_chunk` kept, no face found; keeps the painted
    frames and people of the frame numbers in `keep`."""
    seen = {}
    for task, chunk_keys in zip(tasks, keys, strict=True):
        anonymizer.reset(chunk_keys)
        followed = FollowedBlobs.load(task)
        assert followed is not None
        for number, frame in FrameReader(info, task.first, task.last, threads=0).frames():
            assert frame is not None
            image = anonymizer.apply(frame.to_ndarray(format="bgr24"), [], [], followed.frame(number))
            if number in keep:
                seen[number] = (image, list(anonymizer.last))
    return seen


def _matched(before: list[PersonMask], after: list[PersonMask]) -> tuple[PersonMask, PersonMask]:
    """The person on both sides of the boundary: the best box overlap."""
    pairs = [(iou(a.box, b.box), i, j) for i, a in enumerate(before) for j, b in enumerate(after)]
    overlap, i, j = max(pairs)
    assert overlap > 0.5, "the same person on both sides, or this test means nothing"
    return before[i], after[j]


@dataclass(frozen=True)
class Boundary:
    """hamilton's frames 30 and 31 (a boundary of 30-frame chunks), painted with and without
    the file's keys: (image, people) per frame number."""

    joined: dict[int, tuple[Image, list[PersonMask]]]
    alone: dict[int, tuple[Image, list[PersonMask]]]


@pytest.fixture(scope="module")
def boundary(tmp_path_factory: pytest.TempPathFactory) -> Boundary:
    video = shared_file("media/video/hamilton_640x360.mp4")
    info = probe_video(video)
    options = vigil_settings().anonymize
    work = tmp_path_factory.mktemp("chunks")
    tasks = [
        ChunkTask(video, work / f"{first}.mp4", first, last, [([], [])] * (last - first + 1),
                  options.faces, options.video)
        for first, last in plan_render(60, 30)
    ]  # fmt: skip
    assert [(t.first, t.last) for t in tasks] == [(1, 30), (31, 60)]
    anonymizer = PersonAnonymizer(PersonOptions(style="recolor"), [])
    try:
        keys = file_keys([follow_chunk(task, info, anonymizer) for task in tasks])
        joined = _render_like_chunks(tasks, info, keys, anonymizer, {30, 31})
        alone = _render_like_chunks(tasks, info, [{}, {}], anonymizer, {30, 31})
    finally:
        anonymizer.close()
    return Boundary(joined, alone)


def test_a_faceless_person_keeps_one_colour_across_a_chunk_boundary(boundary: Boundary) -> None:
    """hamilton's first 60 frames in two chunks of 30, with no face passed (every person is
    faceless): the performer, on both sides of the boundary (frames 30 and 31), keeps their key
    and hue. The chunk's own keys (no file keys, the behaviour before) change them: the second
    chunk meets the people in another order."""
    joined, alone = boundary.joined, boundary.alone
    before, after = _matched(joined[30][1], joined[31][1])
    assert before.key == after.key
    hues = _hue(joined[30][0], before), _hue(joined[31][0], after)
    assert _apart(*hues) < 10, hues
    # Two faceless people in one frame: two keys.
    assert len(joined[31][1]) >= 2 and len({m.key for m in joined[31][1]}) == len(joined[31][1])
    # Before this fix: the same person, another key and another colour after the boundary.
    old_before, old_after = _matched(alone[30][1], alone[31][1])
    assert old_before.key != old_after.key
    assert _apart(_hue(alone[30][0], old_before), _hue(alone[31][0], old_after)) > 30


def test_the_rendered_file_keeps_the_colour_with_one_worker_and_two(
    boundary: Boundary, tmp_path: Path
) -> None:
    """The same through `render` and its chunk workers (the people followed, then the chunks
    rendered with the file's keys): in the written file the performer's hue is the same on both
    sides of the boundary, and one worker and two give the same bytes."""
    clip = remux(shared_file("media/video/hamilton_640x360.mp4"), tmp_path / "clip.mp4", seconds=2.9)
    info = probe_video(clip)
    options = vigil_settings().anonymize
    persons = PersonsSpec(PersonOptions(style="recolor"), [])
    outputs = {}
    for workers in (1, 2):
        outputs[workers] = tmp_path / f"out{workers}.mp4"
        job = RenderJob(clip, outputs[workers], info, FaceSchedule([], 0, info.total_frames), options.faces,
                        options.video, True, chunk_frames=30)  # fmt: skip
        with ChunkWorkers(workers, persons) as renderer:
            stats = render(job, runner=renderer.run)
        assert stats.chunks >= 2
    assert outputs[1].read_bytes() == outputs[2].read_bytes()
    with av.open(str(outputs[1])) as container:
        frames = {
            n: f.to_ndarray(format="bgr24")
            for n, f in enumerate(container.decode(video=0), start=1)
            if n in (30, 31)
        }
    before, after = _matched(boundary.joined[30][1], boundary.joined[31][1])
    written = _hue(frames[30], before), _hue(frames[31], after)
    assert _apart(*written) < 10, written
    assert _apart(written[0], _hue(boundary.joined[30][0], before)) < 10  # the colour painted


def test_the_followed_blobs_read_back_are_those_found(tmp_path: Path) -> None:
    """The rendering uses the blobs kept by `follow_chunk` instead of segmenting again: read
    back, they are exactly those a segmentation of the same frames gives (masks, boxes, faces)."""
    video = shared_file("media/video/hamilton_640x360.mp4")
    info = probe_video(video)
    options = vigil_settings().anonymize
    face = FaceRegion((300.0, 40.0, 360.0, 110.0))
    task = ChunkTask(
        video, tmp_path / "chunk.mp4", 21, 32, [([face], [3])] * 12, options.faces, options.video
    )
    anonymizer = PersonAnonymizer(PersonOptions(style="recolor"), [])
    try:
        follow_chunk(task, info, anonymizer)
        kept = FollowedBlobs.load(task)
        assert kept is not None and blobs_path(task).is_file()
        anonymizer.reset()
        compared, to_small = 0, RgbScaler()
        for number, frame in FrameReader(info, task.first, task.last, threads=0).frames():
            assert frame is not None
            size = (frame.width, frame.height)
            found = anonymizer.follow(to_small(frame, anonymizer.work_size(*size)), size, [face], [3])
            again = kept.frame(number)
            assert [(b.box, b.faces) for b in again] == [(b.box, b.faces) for b in found]
            assert all(np.array_equal(a.mask, b.mask) for a, b in zip(again, found, strict=True))
            compared += len(found)
    finally:
        anonymizer.close()
    assert compared >= 12  # people on every frame
    other = dataclasses.replace(task, first=21, last=40)  # another chunk's: not used
    assert FollowedBlobs.load(other) is None


def test_the_follow_pass_scales_the_decoded_frame_as_the_full_size_image_would_be() -> None:
    """`follow_chunk` feeds the segmentation from the decoded frame scaled by swscale
    (render.RgbScaler) instead of a full-size BGR copy resized by OpenCV: the same picture (RGB,
    colours within a level or two on a hamilton frame at 720p), averaged rather than sampled
    (a checkerboard of single pixels, 2.5x down, is a flat grey, not black and white)."""
    clip = shared_file("media/video/hamilton_640x360.mp4")
    with av.open(str(clip)) as container:
        decoded = next(container.decode(video=0)).reformat(width=1280, height=720)
    anonymizer = PersonAnonymizer(PersonOptions(style="recolor"), [])
    try:
        size = anonymizer.work_size(1280, 720)
        assert size == (512, 288)
        small = RgbScaler()(decoded, size)
        with pytest.raises(ValueError, match="512x288"):
            anonymizer.follow(small, (1280, 960), [], [])  # a 512x384 work size
    finally:
        anonymizer.close()
    resized = cv2.resize(decoded.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)).mean() < 2
    assert np.abs(small.astype(int) - resized).mean() > 5  # BGR would not pass
    board = np.zeros((720, 1280, 3), np.uint8)
    board[::2, ::2] = board[1::2, 1::2] = 255
    grey = RgbScaler()(av.VideoFrame.from_ndarray(board, format="rgb24").reformat(format="yuv420p"), size)
    assert int(grey.max()) - int(grey.min()) < 30, (grey.min(), grey.max())
