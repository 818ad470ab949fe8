"""Watchlist accuracy on the hamilton clip (issue 15's goal): enrol people from their reference
photos into a temporary data directory, play the clip through the live pipeline (the same
`Supervisor` + watchlist monitor as `vigil watch --events`, a file camera), and print per track its
frames, best quality, embedded faces with their calibrated score per enrolled person, the level
reached, and every alert raised.

Files play as fast as possible by default: a file's frame times are its stream times either way
(`vigil.live.decode`), so the gate and the decisions see the same timeline as in real time; only
an overloaded real-time run could drop frames or queued faces (their counts are printed).

    python -m bench.watchlist_accuracy                    # lin_manuel_miranda + alex_lacamoire
    python -m bench.watchlist_accuracy --trace            # + every track's quality per analysed frame
    python -m bench.watchlist_accuracy --embedder dlib_resnet
    python -m bench.watchlist_accuracy --people obama --clip media/video/hamilton_640x360.mp4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.live import shared_dir
from vigil.config import CameraConfig, GatingConfig, load_settings
from vigil.live.events import FaceEmbedded, PipelineEvent, TrackEnded, TrackStarted
from vigil.live.factory import default_embedder
from vigil.live.gating import Observation, RecognitionGate
from vigil.live.supervisor import Supervisor
from vigil.watchlist.calibration import scorer_for
from vigil.watchlist.errors import NoUsablePhoto
from vigil.watchlist.matching import Matcher
from vigil.watchlist.monitor import AlertEvent
from vigil.watchlist.service import Watchlist, live_monitor, read_photos

DEFAULT_PEOPLE = ("lin_manuel_miranda", "alex_lacamoire")
HAMILTON = "media/video/hamilton_640x360.mp4"
RANK = {"probable": 1, "match": 2}


class TracingGate(RecognitionGate):
    """The pipeline's gate, recording each observation (stream time, quality, embedded)."""

    def __init__(self, config: GatingConfig) -> None:
        super().__init__(config)
        self.trace: dict[int, list[tuple[float, float, bool]]] = {}

    def observe(self, track_id: int, quality: float, ts: float) -> Observation:
        observation = super().observe(track_id, quality, ts)
        self.trace.setdefault(track_id, []).append((ts, quality, observation.embed))
        return observation


@dataclass
class FaceScore:
    pts: float
    quality: float
    scores: dict[str, float]  # calibrated, per enrolled person


@dataclass
class TrackReport:
    track_id: int
    start_pts: float = 0.0
    frames: int = 0
    best_quality: float = 0.0
    faces: list[FaceScore] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)  # person -> highest level raised
    qualities: list[tuple[float, float]] = field(default_factory=list)  # (track age s, quality) per frame

    def best_scores(self) -> dict[str, float]:
        people = {p for face in self.faces for p in face.scores}
        return {p: max(face.scores.get(p, 0.0) for face in self.faces) for p in sorted(people)}


@dataclass
class Enrolled:
    name: str
    accepted: int
    refused: list[str]  # "[reason] photo: message"


@dataclass
class AccuracyReport:
    clip: str
    enrolled: list[Enrolled]
    tracks: list[TrackReport]
    alerts: list[dict[str, object]]
    embed_requests: int
    embed_dropped: int
    frames_dropped: int

    def alerted(self) -> dict[str, str]:
        """The highest level each person reached on any track."""
        best: dict[str, str] = {}
        for alert in self.alerts:
            person, level = str(alert["person"]), str(alert["level"])
            if RANK.get(level, 0) > RANK.get(best.get(person, ""), 0):
                best[person] = level
        return best


class Recorder:
    """Sink and monitor listener: the events of one run, scored against the references."""

    def __init__(self, matcher: Matcher, names: dict[uuid.UUID, str]) -> None:
        self.matcher = matcher
        self.names = names
        self.tracks: dict[int, TrackReport] = {}
        self.alerts: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def handle(self, event: PipelineEvent) -> None:
        with self._lock:
            track = self.tracks.setdefault(event.track_id, TrackReport(event.track_id))
            if isinstance(event, TrackStarted):
                track.start_pts = event.pts
            elif isinstance(event, TrackEnded):
                track.frames, track.best_quality = event.frames, event.best_quality
            elif isinstance(event, AlertEvent):
                self.alerts.append(event.to_dict())
                if RANK.get(event.level, 0) > RANK.get(track.levels.get(event.person, ""), 0):
                    track.levels[event.person] = event.level
            elif isinstance(event, FaceEmbedded) and event.embedding is not None:
                scores = self.matcher.scores(event.embedding)
                named = {self.names.get(s.person_id, str(s.person_id)): round(s.score, 3) for s in scores}
                track.faces.append(FaceScore(round(event.pts, 2), round(event.quality, 3), named))

    def close(self) -> None:
        pass


def enrol(watchlist: Watchlist, people_dir: Path, people: Sequence[str]) -> list[Enrolled]:
    results: list[Enrolled] = []
    try:
        for name in people:
            photos = read_photos(sorted((people_dir / name).iterdir()))
            try:
                enrolment = watchlist.enrol(name, photos)
                refused = [f"[{r.reason}] {r}" for r in enrolment.refused]
                results.append(Enrolled(name, enrolment.accepted, refused))
            except NoUsablePhoto as exc:
                results.append(Enrolled(name, 0, [f"[{r.reason}] {r}" for r in exc.refused]))
    finally:
        watchlist.release_models()
    return results


def run(
    people: Sequence[str] = DEFAULT_PEOPLE,
    clip: Path | None = None,
    data_dir: Path | None = None,
    realtime: bool = False,
    overrides: dict[str, object] | None = None,
) -> AccuracyReport:
    """Enrol `people`, play `clip` once through the live pipeline with the watchlist, report."""
    shared = shared_dir()
    clip = clip or shared / HAMILTON
    with tempfile.TemporaryDirectory(prefix="vigil-accuracy-") as tmp:
        root = data_dir or Path(tmp)
        settings = load_settings(shared_dir=shared, data_dir=root, realtime=realtime, **(overrides or {}))
        watchlist = Watchlist.open(settings)
        enrolled = enrol(watchlist, shared / "media" / "faces" / "people", people)
        embedder = default_embedder(settings)
        try:
            names = {p.id: p.name for p in watchlist.repository.people()}
            scorer = scorer_for(embedder.name, settings.watchlist)
            recorder = Recorder(Matcher(watchlist.repository.reference_set(embedder.name), scorer), names)
            monitor = live_monitor(settings, embedder.name, listeners=[recorder])
            camera = CameraConfig(url=str(clip))
            supervisor = Supervisor(settings, [camera], [recorder, monitor], embedder=embedder)
            gates = []
            for pipeline in supervisor.pipelines:  # trace the very gate the pipeline uses
                gate = TracingGate(settings.gating)
                pipeline.analyser.gate = gate
                gates.append(gate)
            supervisor.start()
            supervisor.wait()
            monitor.close()
        finally:
            embedder.close()
            watchlist.close()
        for track_id, observations in gates[0].trace.items():
            track = recorder.tracks.setdefault(track_id, TrackReport(track_id))
            first = observations[0][0]
            track.qualities = [(round(ts - first, 2), round(q, 3)) for ts, q, _ in observations]
        counters = next(iter(supervisor.status().values())).counters
        return AccuracyReport(
            clip=clip.name,
            enrolled=enrolled,
            tracks=sorted(recorder.tracks.values(), key=lambda t: t.track_id),
            alerts=recorder.alerts,
            embed_requests=counters.embed_requests,
            embed_dropped=counters.embed_dropped,
            frames_dropped=counters.frames_dropped,
        )


def print_report(report: AccuracyReport, trace: bool) -> None:
    print(f"clip {report.clip}")
    for person in report.enrolled:
        refused = "; ".join(person.refused) or "none"
        print(f"enrolled {person.name}: {person.accepted} photo(s) accepted, refused: {refused}")
    print(
        f"embedding requests {report.embed_requests}, dropped {report.embed_dropped}, "
        f"frames dropped {report.frames_dropped}"
    )
    for track in report.tracks:
        best = ", ".join(f"{p} {s:.2f}" for p, s in track.best_scores().items()) or "-"
        levels = ", ".join(f"{p} {lvl}" for p, lvl in track.levels.items()) or "none"
        print(
            f"track {track.track_id:3d} from {track.start_pts:5.2f}s: frames {track.frames:3d}, best quality "
            f"{track.best_quality:.2f}, embeddings {len(track.faces)}, best score {best}; level: {levels}"
        )
        for face in track.faces:
            scores = ", ".join(f"{p} {s:.2f}" for p, s in face.scores.items())
            print(f"      face at {face.pts:5.2f}s quality {face.quality:.2f}: {scores}")
        if trace:
            print(f"      qualities {' '.join(f'{q:.2f}' for _, q in track.qualities)}")
    for alert in report.alerts:
        print(
            f"alert {alert['type']}: {alert['person']} {alert['level']} score {alert['score']} "
            f"track {alert['track_id']} at {alert['pts']}s ({alert['faces']} faces)"
        )
    print(f"highest level per person: {report.alerted() or 'none'}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", nargs="+", default=list(DEFAULT_PEOPLE))
    parser.add_argument("--clip", help=f"relative to the shared dir (default {HAMILTON})")
    parser.add_argument("--realtime", action="store_true", help="play at real pace")
    parser.add_argument("--trace", action="store_true", help="print each track's quality per frame")
    parser.add_argument("--embedder", help="embedder.type (default: the configured one, dlib_onnx)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    clip = shared_dir() / args.clip if args.clip else None
    overrides: dict[str, object] = {"embedder": {"type": args.embedder}} if args.embedder else {}
    report = run(args.people, clip, realtime=args.realtime, overrides=overrides)
    print_report(report, args.trace)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
