"""Jobs on Ray (issue 19 item 1), on a real 2-node Ray cluster started here (tests/ray_cluster.py):
tracking, anonymisation and activity chunks on Ray actors give the local executor's output; a
killed node's chunks run elsewhere; a node that cannot read the input says so; cancel; the CLI.

The settings and option tests need no cluster."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest
from typer.testing import CliRunner

from tests.batch_util import batch_settings, clip
from tests.conftest import SHARED, shared_file
from tests.ray_cluster import RayCluster, cluster_fixture
from tests.test_anonymize_files_clips import HAMILTON_SECONDS, remux
from tests.test_cli_help import flat
from vigil.batch.progress import BatchProgress
from vigil.batch.runner import run_batch
from vigil.batch.settings import BatchSettings
from vigil.batch.worker import init_worker
from vigil.cli import app
from vigil.config import VigilSettings, load_settings
from vigil.errors import ConfigError
from vigil.jobs.config import JobsConfig
from vigil.jobs.executor import create_executor
from vigil.jobs.model import JobPayload, JobProgress, JobState
from vigil.jobs.workers import ExecutorSettings, NodeInputError, ReadsInput, chunk_executor, use_executor

pytestmark = pytest.mark.timeout(240)
VOLATILE = ("processing_time_sec", "performance_metrics")  # wall time, CPU and memory of the run


# ------------------------------------------------------------ settings and options (no cluster)
def test_executor_settings_and_their_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_JOBS__EXECUTOR", "ray")
    monkeypatch.setenv("VIGIL_JOBS__RAY_ADDRESS", "ray://head.example:10001")
    jobs = load_settings().jobs
    assert ExecutorSettings.of(jobs) == ExecutorSettings("ray", "ray://head.example:10001")
    for good in ("auto", "10.0.0.5:6379", "[::1]:6379", None):
        assert JobsConfig(executor="ray", ray_address=good).ray_address == good
    for bad in ("http://head:6379", "head", "ray://", "a b:1", "head:port"):
        with pytest.raises(ValueError, match="ray address"):
            JobsConfig(ray_address=bad)
    monkeypatch.setenv("VIGIL_JOBS__EXECUTOR", "spark")
    with pytest.raises(ConfigError, match="executor"):
        load_settings()


def test_the_job_thread_s_executor_wins_over_the_settings() -> None:
    ray = ExecutorSettings("ray", "auto")
    assert chunk_executor() == ExecutorSettings() and not chunk_executor().is_ray
    assert chunk_executor(JobsConfig(executor="ray")) == ExecutorSettings("ray", None)
    with use_executor(ray):
        assert chunk_executor(JobsConfig()) == ray
    assert chunk_executor(JobsConfig()) == ExecutorSettings()


@pytest.mark.parametrize("command", [["track", "run"], ["anonymize"], ["activity", "analyse"]])
def test_help_lists_the_executor_options(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0, result.output
    shown = flat(result.output)
    assert "--executor" in shown and "--ray-address" in shown
    assert "[default: (jobs.executor: local)]" in shown
    assert "[default: (jobs.ray_address: a local Ray instance)]" in shown


def test_a_bad_executor_option_is_refused_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["track", str(clip("single_face.mp4")), "--executor", "spark", "--out-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "executor" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_input_names_the_node_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "gone.mp4"
    with pytest.raises(NodeInputError, match=rf"host .* cannot read {missing}: No such file"):
        ReadsInput(len, str(missing))("abc")
    present = tmp_path / "here.mp4"
    present.write_bytes(b"x")
    assert ReadsInput(len, str(present))("abc") == 3


def test_media_vanishing_after_the_check_still_names_the_node_and_the_path(tmp_path: Path) -> None:
    """A chunk checks its input, loads its models, then opens the video: a file removed in between
    gives the same NodeInputError as a file missing from the start, not the decoder's error."""
    video = tmp_path / "hamilton.mp4"
    shutil.copyfile(clip("hamilton_640x360.mp4"), video)

    def open_after_removal(path: str) -> None:
        video.unlink()
        av.open(path).close()

    with pytest.raises(NodeInputError, match=rf"host .* cannot read {video}: No such file"):
        ReadsInput(open_after_removal, str(video))(str(video))
    here = tmp_path / "here.mp4"
    here.write_bytes(b"x")
    other = tmp_path / "model.onnx"  # another file's error is not about the media: it stays as it is
    with pytest.raises(FileNotFoundError, match=r"model\.onnx") as raised:
        ReadsInput(av.open, str(here))(str(other))
    assert not isinstance(raised.value, NodeInputError)
    with pytest.raises(av.error.InvalidDataError):  # a corrupt video is not "cannot read"
        ReadsInput(av.open, str(here))(str(here))


# ------------------------------------------------------------ on a real 2-node cluster
# One cluster for the module: the test that kills a node adds one back.
cluster = cluster_fixture("module")


@pytest.fixture(scope="module")
def on_ray(cluster: RayCluster) -> ExecutorSettings:
    return ExecutorSettings("ray", cluster.address)


def _track_settings(**overrides: Any) -> BatchSettings:
    return batch_settings(**({"engine": "yunet", "cpu_workers": 2, "chunk_size": 60} | overrides))


def _frames_part(path: Path) -> bytes:
    """The frame entries of a tracking output, as written (everything after the metadata)."""
    data = path.read_bytes()
    return data[data.index(b'"frames": [') :]


def _metadata(path: Path) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads(path.read_bytes())["metadata"]
    return {key: value for key, value in metadata.items() if key not in VOLATILE}


@pytest.fixture(scope="module")
def local_tracking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hamilton (275 frames, 5 chunks) tracked by 2 local worker processes."""
    out = tmp_path_factory.mktemp("local")
    report = run_batch([clip("hamilton_640x360.mp4")], _track_settings(), out_dir=out)
    assert report.failed == {} and len(report.done) == 1
    return out / "hamilton_640x360_tracking.json"


@pytest.mark.slow
def test_tracking_on_ray_equals_local(local_tracking: Path, on_ray: ExecutorSettings, tmp_path: Path) -> None:
    progress: list[BatchProgress] = []
    report = run_batch(
        [clip("hamilton_640x360.mp4")],
        _track_settings(),
        out_dir=tmp_path,
        on_progress=progress.append,
        executor_settings=on_ray,
    )
    assert report.failed == {}, report.failed
    output = tmp_path / local_tracking.name
    assert _frames_part(output) == _frames_part(local_tracking)  # byte for byte
    assert _metadata(output) == _metadata(local_tracking)
    assert _metadata(output)["chunks"] == 5
    chunks_done = [p.videos[0].chunks_done for p in progress]
    assert chunks_done == sorted(chunks_done) and chunks_done[-1] == 5  # progress moved per chunk


@pytest.mark.slow
def test_a_killed_node_s_chunks_run_elsewhere(
    local_tracking: Path, cluster: RayCluster, on_ray: ExecutorSettings, tmp_path: Path
) -> None:
    from vigil.jobs.ray_pool import RayPool

    settings = _track_settings(chunk_size=20)  # 14 chunks: the node dies with chunks to do
    pool = RayPool(2, init_worker, (settings,), cluster.address)
    killed = threading.Event()

    def kill_once(update: BatchProgress) -> None:
        if update.videos[0].chunks_done >= 2 and not killed.is_set():
            assert len(set(pool.nodes)) == 2, pool.nodes  # one actor on each node
            killed.set()
            cluster.kill_worker_node()

    try:
        report = run_batch(
            [clip("hamilton_640x360.mp4")], settings, out_dir=tmp_path, on_progress=kill_once, executor=pool
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        cluster.add_worker_node()  # back to 2 nodes for the other tests
    assert killed.is_set()
    assert report.failed == {}, report.failed
    # The killed node had chunks: they ran again (a replacement actor placed on the dying node
    # before Ray noticed its death is lost too).
    assert pool.lost >= 1 and pool.retried >= 1
    output = tmp_path / local_tracking.name
    # Other chunks, same frames: stitching makes the output independent of the chunking.
    assert _frames_part(output) == _frames_part(local_tracking)  # no frame lost or doubled


@pytest.mark.slow
def test_a_node_that_cannot_read_the_input_fails_the_job_naming_it(
    on_ray: ExecutorSettings, tmp_path: Path
) -> None:
    """The video disappears after planning (as on a node where the shared folder is not mounted):
    the chunks not started yet fail on their node, and the job says which node and which path."""
    video = tmp_path / "media" / "hamilton.mp4"
    video.parent.mkdir()
    shutil.copyfile(clip("hamilton_640x360.mp4"), video)

    def remove_after_first_chunk(update: BatchProgress) -> None:
        if update.videos[0].chunks_done >= 1:
            video.unlink(missing_ok=True)

    report = run_batch(
        [video],
        _track_settings(),
        out_dir=tmp_path / "out",
        on_progress=remove_after_first_chunk,
        executor_settings=on_ray,
    )
    reason = report.failed[video]
    assert reason.startswith("NodeInputError: Ray node "), reason
    assert f"cannot read {video}: No such file or directory" in reason
    assert "same path" in reason
    assert not (tmp_path / "out" / "hamilton_tracking.json").exists()


@pytest.mark.slow
def test_cancel_on_ray_stops_the_job_and_leaves_nothing(on_ray: ExecutorSettings, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_after_first_chunk(update: BatchProgress) -> None:
        if update.videos[0].chunks_done >= 1 and not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    report = run_batch(
        [clip("hamilton_640x360.mp4")],
        _track_settings(chunk_size=30),
        out_dir=tmp_path,
        on_progress=cancel_after_first_chunk,
        cancel=cancel,
        executor_settings=on_ray,
    )
    assert time.monotonic() - cancelled_at[0] < 5.0  # running chunks are abandoned, not awaited
    assert report.done == [] and report.failed == {}
    assert list(tmp_path.iterdir()) == []  # no output, no temporary


@pytest.mark.slow
def test_anonymize_on_ray_equals_local(on_ray: ExecutorSettings, tmp_path: Path) -> None:
    from vigil.anonymize.run import AnonymizeProgress, anonymize_videos

    video = remux(clip("hamilton_640x360.mp4"), tmp_path / "hamilton.mp4", seconds=HAMILTON_SECONDS)
    models = shared_file("models/face_detection_yunet_2023mar.onnx").parent
    outputs: dict[str, bytes] = {}
    for where in (ExecutorSettings(), on_ray):
        settings = VigilSettings(
            track={"models_dir": models, "engine": "yunet"},
            jobs={"executor": where.executor, "ray_address": where.ray_address},
            anonymize={"persons": {"style": "recolor"}},  # people followed, then rendered, on Ray
        )
        progress: list[AnonymizeProgress] = []
        report = anonymize_videos(
            [video], tmp_path / where.executor, settings, progress.append, workers=2, chunk_frames=32
        )
        assert report.failed == {}, report.failed
        outputs[where.executor] = report.done[video].read_bytes()
        render = [p for p in progress if p.phase == "render"]
        assert render[-1].frames_done == render[-1].total_frames > 64
    assert hashlib.sha256(outputs["ray"]).hexdigest() == hashlib.sha256(outputs["local"]).hexdigest()


@pytest.mark.slow
def test_activity_cues_on_ray_equal_local(on_ray: ExecutorSettings, tmp_path: Path) -> None:
    from vigil.activity.media_times import media_times
    from vigil.activity.parallel import CuePool

    video = shared_file("media/activity/busy/sam2_default_juggle.mp4")
    dirs = load_settings(data_dir=tmp_path, shared_dir=SHARED).model_search_dirs()
    duration = media_times(video).duration
    samples = {}
    for where in (ExecutorSettings(), on_ray):
        progress: list[tuple[int, int]] = []

        def step(done: int, total: int, progress: list[tuple[int, int]] = progress) -> None:
            progress.append((done, total))

        with CuePool(2, dirs, where) as pool:
            samples[where.executor] = pool.samples(video, 0.5, duration, step, chunk_s=3.0)
        assert len(progress) >= 3 and progress[-1][0] == progress[-1][1]
    assert samples["ray"] == samples["local"]  # every cue of every sample


@pytest.mark.slow
def test_activity_analyse_cli_on_ray_gives_the_local_json(cluster: RayCluster, tmp_path: Path) -> None:
    # The juggling clip 3 times (30.9 s): two 20-second chunks, one on each worker.
    listing = tmp_path / "juggle3.txt"
    listing.write_text(f"file '{shared_file('media/activity/busy/sam2_default_juggle.mp4')}'\n" * 3)
    video = tmp_path / "juggle3.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(video)],
        check=True,
    )
    results = {}
    for name, options in (("local", []), ("ray", ["--executor", "ray", "--ray-address", cluster.address])):
        target = tmp_path / f"{name}.json"
        _vigil(
            tmp_path,
            "activity",
            "analyse",
            str(video),
            "--workers",
            "2",
            "--json",
            str(target),
            *options,
        )
        analysis = json.loads(target.read_text())
        analysis.pop("seconds")  # wall time of the run
        results[name] = analysis
    assert results["ray"] == results["local"] and results["local"]["samples"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("via", ["gcs", "ray_client"])
def test_vigil_track_executor_ray_end_to_end(
    local_tracking: Path, cluster: RayCluster, tmp_path: Path, via: str
) -> None:
    """On a node's address (the driver joins the cluster) and through Ray Client (`ray://`, a
    driver off the cluster): the same frames as the local executor."""
    address = cluster.address if via == "gcs" else cluster.client_address
    out = tmp_path / "out"
    done = _vigil(
        tmp_path,
        "track",
        str(clip("hamilton_640x360.mp4")),
        "--engine",
        "yunet",
        "--workers",
        "2",
        "--chunk-size",
        "60",
        "--out-dir",
        str(out),
        "--executor",
        "ray",
        "--ray-address",
        address,
    )
    assert "[Gestionnaire] Succès pour hamilton_640x360.mp4" in done.stdout
    output = out / local_tracking.name
    assert _frames_part(output) == _frames_part(local_tracking)


class _Control:
    """The job system's side of one job, as the manager gives it (progress kept, never cancelled)."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.reports: list[JobProgress] = []

    def start(self) -> bool:
        return True

    def report(self, progress: JobProgress) -> None:
        self.reports.append(progress)


@pytest.mark.slow
def test_a_track_job_of_the_web_job_system_sends_its_chunks_to_ray(
    local_tracking: Path, cluster: RayCluster, tmp_path: Path
) -> None:
    from vigil.batch.job import track_params
    from vigil.batch.pool import WARM_POOL
    from vigil.jobs.ray_pool import RayPool

    executor = create_executor(JobsConfig(executor="ray", ray_address=cluster.address))
    params = track_params([clip("hamilton_640x360.mp4")], _track_settings(), tmp_path, force=False)
    control = _Control()
    try:
        payload = JobPayload(id="ray-job", kind="track", params=params.model_dump(mode="json"))
        outcome = executor.submit(payload, control).result(timeout=200)
        assert isinstance(WARM_POOL._pool, RayPool)  # the job's warm workers are Ray actors
    finally:
        executor.shutdown()
        WARM_POOL.close()
    assert outcome is not None and outcome.state == JobState.DONE, outcome
    assert _frames_part(tmp_path / local_tracking.name) == _frames_part(local_tracking)
    overall = [report.overall for report in control.reports]
    assert overall == sorted(overall) and overall[-1] == 1.0 and len(overall) > 3


def _vigil(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    models = shared_file("models/face_detection_yunet_2023mar.onnx").parent
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "VIGIL_MODELS_DIR": str(models),
        "VIGIL_SHARED_DIR": str(SHARED),
    }
    done = subprocess.run(
        [sys.executable, "-m", "vigil", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=200
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done
