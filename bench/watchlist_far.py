"""Watchlist false alarms per track: the visitors of the shared clips as impostors of enrolled people.

Every person of `<shared>/media/faces/people/` is enrolled from their photos (as `vigil watchlist
import` does). Each clip of `<shared>/media/video/` and `<shared>/media/activity/*/` is played
through the live pipeline (detector, tracker, quality, recognition gate, embedder: the faces a real
run embeds); each track is a visitor. A track is an impostor of every enrolled person who is not
in its clip (hamilton holds lin_manuel_miranda, alex_lacamoire and obama). The track's score for a
person is taken as the decider takes it (`vigil.watchlist.matching`): after each of its faces, the
score of its prototype so far; the track reaches a level when any of those does. The previous rule (the
quality-weighted mean of the faces' own scores) is shown beside it.

Prints FAR per (track, person) pair at both levels, and how many false alerts one enrolled person
gets as the number of visitors grows.

    python -m bench.watchlist_far [--embedder dlib_onnx dlib_resnet]
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.live import machine_info, shared_dir
from vigil.config import CameraConfig, load_settings
from vigil.embed import create_embedder
from vigil.live.events import FaceEmbedded, MemorySink
from vigil.live.supervisor import Supervisor
from vigil.types import FaceEmbedding, FloatArray
from vigil.watchlist.calibration import MATCH, PROBABLE, Scorer, scorer_for
from vigil.watchlist.config import WatchlistConfig
from vigil.watchlist.matching import Matcher, TrackDecider, _Evidence
from vigil.watchlist.repository import ReferenceSet
from vigil.watchlist.service import Watchlist, read_photos

IN_CLIP = {"hamilton_640x360": {"lin_manuel_miranda", "alex_lacamoire", "obama"}}
VIDEO_SUFFIXES = {".mp4", ".mov"}
MODEL = "dlib_resnet_v1"  # both dlib engines


@dataclass
class Visitor:
    clip: str
    track_id: int
    vectors: list[FloatArray]
    qualities: list[float]


def visitors_of(clip: Path, embedder_type: str) -> list[Visitor]:
    with tempfile.TemporaryDirectory(prefix="vigil-far-") as tmp:
        embedder_config = {"type": embedder_type}
        settings = load_settings(
            shared_dir=shared_dir(), data_dir=Path(tmp), realtime=False, embedder=embedder_config
        )
        embedder = create_embedder(settings.embedder, settings.use_gpu, settings.runtime.embed_processes)
        sink = MemorySink()
        try:
            supervisor = Supervisor(settings, [CameraConfig(url=str(clip))], [sink], embedder=embedder)
            supervisor.start()
            supervisor.wait()
        finally:
            embedder.close()
    tracks: dict[int, Visitor] = {}
    for event in sink.events:
        if isinstance(event, FaceEmbedded) and event.embedding is not None:
            visitor = tracks.setdefault(event.track_id, Visitor(clip.stem, event.track_id, [], []))
            visitor.vectors.append(np.asarray(event.embedding.vector, np.float32))
            visitor.qualities.append(event.quality)
    return list(tracks.values())


def references(embedder_type: str) -> dict[str, FloatArray]:
    with tempfile.TemporaryDirectory(prefix="vigil-far-") as tmp:
        embedder_config = {"type": embedder_type}
        settings = load_settings(shared_dir=shared_dir(), data_dir=Path(tmp), embedder=embedder_config)
        watchlist = Watchlist.open(settings)
        try:
            people = shared_dir() / "media" / "faces" / "people"
            found = {}
            for folder in sorted(p for p in people.iterdir() if p.is_dir()):
                accepted, _ = watchlist.check(read_photos(sorted(folder.iterdir())))
                if accepted:
                    found[folder.name] = np.stack([r.embedding for r in accepted]).astype(np.float32)
            return found
        finally:
            watchlist.close()


@dataclass(frozen=True)
class PairResult:
    person: str
    visitor: Visitor
    level: str | None  # highest level the real decider raised
    prototype: float  # highest prototype score over the track's faces so far (diagnostic)
    mean: float  # highest quality-weighted mean of face scores: the rule before (diagnostic)


def score_pair(person: str, visitor: Visitor, refs: FloatArray, scorer: Scorer) -> PairResult:
    """The track's faces through the real `TrackDecider`, with `person` alone enrolled."""
    person_id = uuid.uuid4()
    matcher = Matcher(ReferenceSet(MODEL, [person_id] * len(refs), refs), scorer)
    decider = TrackDecider(WatchlistConfig().thresholds_for)
    evidence = _Evidence()
    level: str | None = None
    weights, face_scores = 0.0, 0.0
    best_proto = best_mean = 0.0
    for vector, quality in zip(visitor.vectors, visitor.qualities, strict=True):
        embedding = FaceEmbedding(vector, MODEL)
        decision = decider.observe("cam", visitor.track_id, embedding, quality, matcher)
        if decision is not None:
            level = decision.level
        prototype = evidence.add(embedding, quality, matcher.track_split_raw)
        best_proto = max(best_proto, matcher.scores(prototype)[0].score)
        weight = max(quality, 0.05) ** 2
        weights += weight
        face_scores += weight * matcher.scores(embedding)[0].score
        best_mean = max(best_mean, face_scores / weights)
    return PairResult(person, visitor, level, best_proto, best_mean)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--embedder", nargs="+", default=["dlib_onnx"])
    args = parser.parse_args(argv)
    media = shared_dir() / "media"
    found = [*(media / "video").iterdir(), *(media / "activity").glob("*/*")]
    clips = sorted(p for p in found if p.suffix in VIDEO_SUFFIXES)
    info = machine_info()
    print(f"{info['date']} {info['cpu']} ({info['usable_cores']} cores), Vigil {info['vigil_revision']}")
    for embedder_type in args.embedder:
        refs = references(embedder_type)
        scorer = scorer_for(MODEL, WatchlistConfig())
        visitors = [v for clip in clips for v in visitors_of(clip, embedder_type)]
        pairs = [
            score_pair(person, visitor, vectors, scorer)
            for visitor in visitors
            for person, vectors in refs.items()
            if person not in IN_CLIP.get(visitor.clip, set())
        ]
        faces = sum(len(v.vectors) for v in visitors)
        print(
            f"\nembedder {embedder_type}: {len(refs)} people enrolled, {len(visitors)} visitor tracks "
            f"({faces} embedded faces) in {len(clips)} clips, {len(pairs)} impostor (track, person) pairs"
        )
        levels = [p.level for p in pairs]
        matched, raised = levels.count("match"), len(pairs) - levels.count(None)
        print(
            f"  decider: FAR match {matched / len(pairs):.4f} ({matched}), "
            f"probable or match {raised / len(pairs):.4f} ({raised})"
        )
        for name, values in (
            ("prototype (now)", [p.prototype for p in pairs]),
            ("mean of face scores (before)", [p.mean for p in pairs]),
        ):
            scores = np.array(values)
            print(
                f"  {name}: pairs >= match {int(np.sum(scores >= MATCH))}, >= probable "
                f"{int(np.sum(scores >= PROBABLE))}, highest {scores.max():.3f}, "
                f"median {np.median(scores):.3f}"
            )
        for pair in sorted(pairs, key=lambda p: -p.prototype)[:5]:
            visitor = pair.visitor
            print(
                f"    highest: {visitor.clip} track {visitor.track_id} ({len(visitor.vectors)} faces) vs "
                f"{pair.person}: prototype {pair.prototype:.3f}, mean {pair.mean:.3f}"
            )
        # One enrolled person, visitors arriving: false alerts among the first V visitors.
        per_person = {person: [p for p in pairs if p.person == person] for person in refs}
        for size in sorted({1, 5, 10, 20, len(visitors)}):
            alerts = [sum(p.level is not None for p in rows[:size]) for rows in per_person.values()]
            matches = [sum(p.level == "match" for p in rows[:size]) for rows in per_person.values()]
            print(
                f"  store of {size:3d} visitors: false alerts per enrolled person: any "
                f"{np.mean(alerts):.2f}, match {np.mean(matches):.2f}"
            )


if __name__ == "__main__":
    main()
