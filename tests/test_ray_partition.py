"""A cut-off node's camera (issue 19), on a real 2-node Ray cluster and a real PostgreSQL: the worker
node's daemons are stopped (SIGSTOP), so the GCS declares the node dead and Ray restarts its camera
on the head node, while the old actor's process goes on running, decoding and able to reach the
database, as behind a network partition. The camera fence (vigil/cluster/fence.py) must keep the
old run from writing once the new run holds the camera, and the old run must stop itself."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.ray_cluster import RayCluster, cluster_fixture
from tests.test_ray_cameras import _is_head, analysing, cluster_settings, wait_for
from tests.web_util import ctx_of, make_app
from vigil.cluster.identifier import sighting_key
from vigil.cluster.tables import CameraRunRow
from vigil.jobs.ray_pool import import_ray
from vigil.store.database import Database
from vigil.store.schema import Camera, Sighting

pytestmark = pytest.mark.timeout(300)
cluster = cluster_fixture("function")  # the test stops a node
WRITING_AFTER_S = 15.0  # the old run would have written new tracks' sightings by then (cuts every few s)


def claimed_at(db: Database, camera: str, run: uuid.UUID) -> datetime | None:
    with db.reader.connect() as conn:
        row = conn.execute(select(CameraRunRow).where(CameraRunRow.camera == camera)).first()
    return row.claimed_at if row is not None and row.run == run else None


def sightings_of_run(db: Database, camera: str, run: uuid.UUID) -> list[datetime]:
    """Capture times of the sightings `run` of `camera` wrote (their ids are its tracks' keys)."""
    with db.reader.connect() as conn:
        rows = conn.execute(
            select(Sighting.id, Sighting.track_id, Sighting.captured_at)
            .join(Camera, Camera.id == Sighting.camera_id)
            .where(Camera.name == camera)
        ).all()
    return [row[2] for row in rows if sighting_key(run, camera, row[1]) == row[0]]


def stopped_in_log(cluster: RayCluster, camera: str) -> bool:
    needle = f"camera {camera}: this run stops"
    for path in cluster.temp_dir.glob("session_*/logs/*"):
        try:
            if needle in path.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def test_a_cut_off_nodes_camera_stops_writing_once_restarted_elsewhere(
    cluster: RayCluster, pg_url: str, hamilton: Path, tmp_path: Path
) -> None:
    settings: dict[str, Any] = cluster_settings(cluster, hamilton)
    settings["cameras"] = settings["cameras"][:2]
    settings["cluster"]["camera_cpus"] = 0.5  # one camera on each node, both fit on the head after
    app = make_app(tmp_path, pg_url, **settings)
    manager = ctx_of(app).cameras
    assert manager.cluster is not None
    db = ctx_of(app).store.db
    try:
        with TestClient(app):
            remotes = manager.cluster.cameras()
            wait_for(lambda: all(analysing(c) for c in remotes), 120, "2 cameras analysing")
            nodes = {c.placement.node_id for c in remotes if c.placement}
            assert len(nodes) == 2, "one camera on each node"
            head = next(n["NodeID"] for n in import_ray().nodes() if n["Alive"] and _is_head(n))
            cut = next(c for c in remotes if c.placement and c.placement.node_id != head)
            assert cut.placement is not None
            old_run, old_pid = cut.placement.run, cut.placement.pid
            assert claimed_at(db, cut.name, old_run) is not None, "a starting run claims its camera"
            wait_for(lambda: bool(sightings_of_run(db, cut.name, old_run)), 60, "the old run writes")

            cluster.cut_off_worker_node()
            wait_for(
                lambda: cut.placement is not None and cut.placement.run != old_run and analysing(cut),
                60,
                "the cut-off node's camera restarted on the head",
            )
            assert cut.placement is not None
            new_run = cut.placement.run
            claim = claimed_at(db, cut.name, new_run)
            assert claim is not None, "the new run holds the camera"
            assert _alive(old_pid), "the old actor's process still runs (a partition, not a crash)"
            wait_for(lambda: stopped_in_log(cluster, cut.name), 15, "the old run stopping itself")
            time.sleep(WRITING_AFTER_S)
            late = [at for at in sightings_of_run(db, cut.name, old_run) if at > claim]
            assert late == [], f"the replaced run wrote {len(late)} sightings after the new run's claim"
            assert sightings_of_run(db, cut.name, new_run), "the new run writes"
    finally:
        cluster.kill_worker_node()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
