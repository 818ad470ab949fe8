"""A video's frame table goes to Ray once per video, not once per chunk (issue 19): `Shared`
arguments of a `RayPool` (vigil/jobs/shared.py, ray_pool.py), on a real 2-node Ray cluster.

A chunk's own task stays small whatever the video's length; the frame table (8 bytes per frame
of the whole video) is put into the object store at the video's first chunk and every chunk
sends only its reference; the actors see the whole table."""

from __future__ import annotations

import gc
import operator
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.batch_util import batch_settings, clip
from tests.ray_cluster import RayCluster, cluster_fixture
from vigil.batch.process import ChunkTask
from vigil.batch.runner import run_batch
from vigil.batch.video import VideoInfo
from vigil.batch.worker import init_worker
from vigil.jobs.ray_pool import RayPool
from vigil.jobs.shared import Shared

pytestmark = pytest.mark.timeout(240)
TWO_HOURS = 200_000  # frames of a 2-hour video at 27.5 fps


def long_info(frames: int = TWO_HOURS) -> VideoInfo:
    """The frame table of a long 25 fps video, a keyframe every 250 frames (none decoded)."""
    pts = np.arange(frames, dtype=np.int64) * 512
    return VideoInfo(
        path=Path("/videos/two_hours.mp4"),
        width=640,
        height=360,
        fps=25.0,
        time_base=Fraction(1, 12800),
        pts=pts,
        keyframes=pts[::250].copy(),
        expected_frames=frames,
        packets=frames,
    )


def sent(fn: object, args: tuple[object, ...]) -> int:
    """Pickled bytes of a call as handed to Ray (protocol 5, as the bench measures)."""
    return len(pickle.dumps((fn, args), protocol=5))


def test_a_chunk_s_task_does_not_grow_with_the_video() -> None:
    settings = batch_settings()
    task = ChunkTask(Path("/videos/two_hours.mp4"), 499, 199_601, 200_000, settings)
    table = long_info()
    assert len(pickle.dumps(task, protocol=5)) < 16_000  # the settings, the frame range
    assert len(pickle.dumps(Shared(table), protocol=5)) > 8 * TWO_HOURS  # what it used to carry


cluster = cluster_fixture("module")


def test_a_shared_argument_is_put_once_and_each_call_sends_its_reference(cluster: RayCluster) -> None:
    pool = RayPool(2, address=cluster.address)
    table = Shared(long_info())
    try:
        # Builtins: the actors import them without this test module.
        futures = [pool.submit(operator.attrgetter("value.pts"), table) for _ in range(6)]
        received = [future.result(timeout=120) for future in futures]
        assert all(np.array_equal(pts, table.value.pts) for pts in received)  # the whole table
        assert pool.shared.puts == 1  # once for the 6 calls
        args = pool.shared.call_args((table,))
        assert sent(operator.attrgetter("value.pts"), args) < 1_000  # a reference, not 1.6 MB
        assert sent(operator.attrgetter("value.pts"), (table,)) > 8 * TWO_HOURS

        other = Shared(long_info(1_000))
        assert pool.submit(operator.attrgetter("value.total_frames"), other).result(timeout=60) == 1_000
        assert pool.shared.puts == 2 and len(pool.shared) == 2  # a second video: put once more
        del other, futures, received
        gc.collect()
        assert len(pool.shared) == 1  # forgotten with the caller's object: bounded
    finally:
        pool.shutdown()
    assert len(pool.shared) == 0  # freed with the pool


@pytest.mark.slow
def test_tracking_on_ray_puts_the_frame_table_once_per_video(cluster: RayCluster, tmp_path: Path) -> None:
    """hamilton in 5 chunks through a Ray pool: one put, and the frames of a local run."""
    video = clip("hamilton_640x360.mp4")
    settings = batch_settings(engine="yunet", cpu_workers=2, chunk_size=60)
    local = run_batch([video], settings, out_dir=tmp_path / "local")
    pool = RayPool(2, init_worker, (settings,), cluster.address)
    try:
        on_ray = run_batch([video], settings, out_dir=tmp_path / "ray", executor=pool)
        assert pool.shared.puts == 1  # one video: its table put once for its 5 chunks
    finally:
        pool.shutdown()
    assert local.failed == {} and on_ray.failed == {}, (local.failed, on_ray.failed)
    name = f"{video.stem}_tracking.json"
    frames = [(tmp_path / where / name).read_bytes() for where in ("local", "ray")]
    frames = [data[data.index(b'"frames": [') :] for data in frames]
    assert frames[0] == frames[1]  # byte for byte
    assert b'"chunks": 5' in (tmp_path / "ray" / name).read_bytes()
