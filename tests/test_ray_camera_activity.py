"""Activity analysis of a camera on Ray (`vigil serve --cluster`), on a real 2-node Ray cluster
(tests/ray_cluster.py) and a real PostgreSQL (pgserver): the camera actor analyses the looping
asleep clip (picture and the stream's own sound) on its node and writes its segments to the store
itself; the server shows the state the actor reports on `GET /api/activity/live`; `save-clip`
saves the last seconds the actor rendered from its clip ring (a playable MP4 with picture and
sound), refuses more than the actor keeps (its typed error, through Ray) and answers 503 while
the actor is down; the actor's process killed, Ray restarts it as a new run, whose segments
neither duplicate the lost run's nor bridge the time it was down."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import SHARED, shared_file
from tests.ray_cluster import RayCluster, cluster_fixture
from tests.waiting import until
from tests.web_util import bearer, ctx_of, make_app
from vigil.activity.labels import Activity
from vigil.activity.live import LiveState
from vigil.activity.tables import ActivitySegmentRow
from vigil.cluster.cameras import RemoteCamera
from vigil.live.health import SourceState
from vigil.store.database import Database

pytestmark = pytest.mark.timeout(240)
CAMERA = "bedroom"
CLIP_S = 3.0


cluster = cluster_fixture("function")  # one per test: the test kills the actor's process


def settings(cluster: RayCluster, clip: Path) -> dict[str, Any]:
    camera = {"url": str(clip), "name": CAMERA, "loop": True, "fps": 5.0, "activity": True}
    return {
        "cameras": [camera],
        "shared_dir": SHARED,
        "runtime": {"embed_processes": 0},
        "cluster": {"ray_address": cluster.address, "camera_cpus": 0.5, "check_period_s": 0.2},
        "web": {"start_cameras": True},
        "activity": {"live_audio": "stream", "clip_buffer_s": 10.0},
        "realtime": True,
    }


def stored(db: Database) -> list[Any]:
    with db.reader.connect() as conn:
        query = select(ActivitySegmentRow).where(ActivitySegmentRow.camera == CAMERA)
        return list(conn.execute(query.order_by(ActivitySegmentRow.started_at)).all())


def test_activity_runs_on_the_node_and_the_server_shows_it(
    cluster: RayCluster, pg_url: str, tmp_path: Path
) -> None:
    clip = shared_file("media/activity/asleep/akshint_test_video_sleep.mp4")
    app = make_app(tmp_path, pg_url, **settings(cluster, clip))
    manager = ctx_of(app).cameras
    assert manager.cluster is not None
    with TestClient(app) as client:
        admin, viewer = bearer(app), bearer(app, "viewer")
        [remote] = manager.cluster.cameras()

        def tile() -> dict[str, Any] | None:
            [shown] = client.get("/api/activity/live", headers=viewer).json()
            return shown if shown["activity"] is not None else None

        first = until(tile, 120, "the actor's activity state on /api/activity/live")
        assert first["camera"] == CAMERA and first["running"] is True and 0 < first["confidence"] <= 1
        assert first["activity"] == Activity.ASLEEP.value  # the clip's label (labels.csv), as locally
        assert datetime.fromisoformat(first["since"]) <= datetime.fromisoformat(first["updated"])
        placement = remote.placement
        assert placement is not None and placement.pid != os.getpid()  # analysed in the actor
        rows = until(lambda: stored(ctx_of(app).store.db) or None, 30, "segments the actor wrote")
        assert all(row.source == "live" for row in rows) and rows[-1].open
        cues = first["cues"]
        print(
            f"run 1 on {placement.node}: {first['activity']} ({first['confidence']}), voice {cues['voice']}"
        )

        # save-clip: rendered in the actor from its ring, saved by the server. The looping file
        # empties the ring at each restart (8 s): asked again until the ring holds CLIP_S.
        ask = {"camera": first["camera_id"], "seconds": CLIP_S}
        body = until(lambda: _full_clip(client.post("/api/save-clip", json=ask, headers=admin)), 30, "a clip")
        assert body["camera"] == CAMERA and body["video_codec"] == "h264" and body["audio_codec"] == "aac"
        on_disk = tmp_path / "data" / "clips" / f"id={first['camera_id']}" / body["name"]
        assert on_disk.stat().st_size == body["size"] and on_disk.stat().st_mode & 0o777 == 0o600
        got = client.get(body["download"], headers=admin)
        assert got.status_code == 200 and got.content == on_disk.read_bytes()
        check_clip(on_disk, CLIP_S)
        too_long = client.post("/api/save-clip", json={**ask, "seconds": 11}, headers=admin)
        assert too_long.status_code == 422, too_long.text  # ClipTooLong, raised in the actor
        assert "clip_buffer_s" in too_long.json()["detail"] and "Ray" not in too_long.text

        # The actor's process dies (as with its node): Ray restarts it, a new run.
        lost_run, killed_at = placement.run, time.time()
        os.kill(placement.pid, signal.SIGKILL)
        until(lambda: _seen_down(remote, lost_run), 30, "the lost run seen down")
        down = client.post("/api/save-clip", json=ask, headers=admin)
        assert down.status_code == 503 and "does not answer" in down.json()["detail"], down.text
        restarted = until(lambda: _new_run(remote, lost_run), 90, "the camera restarted as a new run")
        assert restarted.pid != placement.pid
        print(f"restarted on {restarted.node} {time.time() - killed_at:.1f} s after the kill")
        until(lambda: _started_after(stored(ctx_of(app).store.db), killed_at), 60, "a segment of the new run")
        state = until(
            lambda: _new_state(manager.activity_state(first["camera_id"]), killed_at), 10, "its state"
        )
        assert state.camera == CAMERA and state.activity == Activity.ASLEEP
    check_segments(stored(ctx_of(app).store.db), killed_at)


def _full_clip(answer: Any) -> dict[str, Any] | None:
    """The saved clip's description when it holds the seconds asked; None for a shorter one (the
    loop restarted less than CLIP_S ago) or nothing buffered yet (503)."""
    assert answer.status_code in (200, 503), answer.text
    if answer.status_code == 503:
        assert "buffered" in answer.json()["detail"], answer.text
        return None
    body: dict[str, Any] = answer.json()
    return body if body["duration_s"] >= CLIP_S - 0.1 else None


def check_clip(path: Path, seconds: float) -> None:
    """A playable MP4: an H.264 picture of the source's size, about `seconds` long, and a decodable
    first frame; AAC sound from its start. The sound may end up to 0.5 s before the picture: the
    file's sound is muxed ~0.25 s behind its picture, so when the newest video packet (the clip's
    end) arrives, the sound beside it has not yet (docs/activity.md says the same of RTSP)."""
    with av.open(str(path)) as container:
        assert container.duration is not None
        duration = container.duration / av.time_base
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (640, 360)
    with av.open(str(path)) as container:  # again: the frame's decode demuxed sound packets away
        sound = list(container.decode(audio=0))
    heard = sum(f.samples for f in sound) / audio.rate
    assert abs(duration - seconds) < 0.1 and abs(float(sound[0].time or 0.0)) < 0.03, duration
    assert seconds - 0.5 < heard <= duration + 0.05, (duration, heard)
    print(f"clip {path.name}: {duration:.2f} s, sound {heard:.2f} s, {path.stat().st_size} bytes")


def _seen_down(remote: RemoteCamera, run: Any) -> bool:
    """The server saw run `run` stop answering, and no new run answered yet."""
    placement = remote.placement
    return (
        placement is not None
        and placement.run == run
        and remote.status().health.state is not SourceState.RUNNING
    )


def _new_run(remote: RemoteCamera, lost: Any) -> Any:
    placement = remote.placement
    return placement if placement is not None and placement.run != lost else None


def _new_state(state: LiveState | None, at: float) -> LiveState | None:
    """The state of a run whose activity began after `at` (its first window full)."""
    return state if state is not None and state.since is not None and state.since >= at else None


def _started_after(rows: list[Any], at: float) -> bool:
    return any(row.started_at.timestamp() > at for row in rows)


def check_segments(rows: list[Any], killed_at: float) -> None:
    """One row per segment start, none overlapping the next, the lost run's ended before the kill
    (where it was last written), none left open (the server's stop closed the new run's)."""
    starts = [row.started_at for row in rows]
    assert len(starts) == len(set(starts)), "a segment stored twice"
    for before, after in pairwise(rows):
        assert before.ended_at <= after.started_at, (before, after)
    lost = [row for row in rows if row.started_at.timestamp() < killed_at]
    assert lost and all(row.ended_at.timestamp() <= killed_at for row in lost)
    assert not any(row.open for row in rows), rows
    gap = min(row.started_at.timestamp() for row in rows if row.started_at.timestamp() > killed_at)
    down_s = gap - lost[-1].ended_at.timestamp()
    print(f"{len(rows)} segments, {len(lost)} of the lost run; {down_s:.1f} s between the runs not counted")
