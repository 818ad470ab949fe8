"""Same-person threshold calibration: false accept / false reject rates of the default embedder.

Both sets are embedded with the default embedder (dlib ResNet, 128-d, L2-normalised), faces cut
as the live pipeline cuts them (YuNet, `FaceCrop.cut`):

1. photos: `<shared>/media/faces/people/<name>/*`, the largest face of each photo.
   Genuine pairs: same name. Impostor pairs: different names.
2. video: the hamilton clip, detection + `FaceTracker` (configured from `VigilSettings()`) on
   every `--stride`-th frame. The clip has hard cuts and the tracker may carry a track id across
   one onto another person, so a track is split into segments, one per shot. Faces whose
   quality is at least `--min-quality` are candidates; at most `--per-track` per segment,
   spread in time, are embedded. Genuine pairs: two embeddings of one segment. Impostor
   pairs: embeddings of two segments seen in the same frame with boxes apart (two faces in
   one frame are two people). Segments that never share a frame may be one person (the
   performer has two), so they give no pair.

A pair is accepted when cosine similarity >= threshold (the store's `same_person_similarity`).

    python -m bench.calibrate                                   # print the report
    python -m bench.calibrate --out docs/identity_calibration.md
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.live import machine_info, progress, shared_dir
from vigil.config import VigilSettings
from vigil.detect import FaceDetector, create_detector
from vigil.embed import FaceCrop, FaceEmbedder, create_embedder
from vigil.live.quality import face_quality
from vigil.live.tracking import FaceTracker
from vigil.sources import open_source
from vigil.types import Detections, FloatArray, Image
from vigil.watchlist.calibration import MATCH, PROBABLE, CalibrationFile, LevelRates

PEOPLE = "media/faces/people"
HAMILTON = "media/video/hamilton_640x360.mp4"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
TABLE_THRESHOLDS = [round(0.80 + 0.01 * i, 2) for i in range(19)]  # 0.80 .. 0.98
SEED_SIMILARITY = 0.6  # seed 001 §3.4: "cosine distance < 0.4"
DLIB_DISTANCE = 0.6  # dlib's own rule: Euclidean distance < 0.6 between raw descriptors
REFERENCES = ("lin_manuel_miranda", "alex_lacamoire", "obama")
# A false accept merges two people into one visitor (mixed photos and visit counts, invisible to
# the operator); a false reject makes a duplicate visitor that `vigil visitors merge` repairs.
FALSE_ACCEPT_COST = 2.0
CUT_THRESHOLD = 20.0  # mean grey change (0-255) of a 64x36 thumbnail; cuts here measure >= 27
QUALITY_GATES = (0.3, 0.4, 0.5, 0.55, 0.6)  # the quality sweep (plus the pipeline's own gate)
SAME_FACE_OVERLAP = 0.2  # boxes overlapping more than this (of the smaller) may be one face


# ------------------------------------------------------------------ data
@dataclass(frozen=True)
class Sample:
    label: str  # identity name (photos) or track segment "t<track>@s<shot>" (video)
    source: str  # file name or frame, for the report
    vector: FloatArray
    quality: float = 1.0


@dataclass
class Scores:
    """Similarities of genuine (same person) and impostor (different people) pairs."""

    name: str
    genuine: FloatArray
    impostor: FloatArray
    lowest_genuine: list[tuple[float, str, str]] = field(default_factory=list)
    highest_impostor: list[tuple[float, str, str]] = field(default_factory=list)


@dataclass
class Candidate:
    frame: int
    quality: float
    crop: FaceCrop


@dataclass
class VideoFaces:
    """Crops per track segment (a track within one shot) and which segments shared a frame."""

    frames: int = 0  # frames detected on
    faces: int = 0
    cuts: list[int] = field(default_factory=list)  # first frame of each shot after the first
    candidates: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    best: dict[str, Candidate] = field(default_factory=dict)  # best face of a segment, any quality
    spans: dict[str, list[int]] = field(default_factory=dict)  # segment -> [first, last] frame
    together: set[tuple[str, str]] = field(default_factory=set)  # in one frame, boxes apart
    overlapping: set[tuple[str, str]] = field(default_factory=set)  # boxes overlap: maybe one face

    @property
    def distinct(self) -> set[tuple[str, str]]:
        """Segment pairs that are surely two people."""
        return self.together - self.overlapping


@dataclass
class Timer:
    embeds: int = 0
    embed_s: float = 0.0


@dataclass
class Results:
    photos: list[Sample]
    missed: list[str]
    norms: list[float]  # raw dlib descriptor norms of the photos
    faces: VideoFaces
    video: list[Sample]
    below_floor: list[Sample]  # best face of segments with no face above the quality floor
    timer: Timer
    seconds: float = 0.0
    model: str = ""  # the embedder's model name (vectors are comparable within one model only)


# ------------------------------------------------------------------ photos
def embed(embedder: FaceEmbedder, crop: FaceCrop, timer: Timer) -> FloatArray:
    start = time.perf_counter()
    vector = embedder.embed(crop).vector
    timer.embed_s += time.perf_counter() - start
    timer.embeds += 1
    return vector


def largest(found: Detections) -> int:
    areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
    return int(np.argmax(areas))


def photo_crops(people: Path, detector: FaceDetector) -> tuple[list[tuple[str, str, FaceCrop]], list[str]]:
    """(name, file, crop of the largest face) per photo; also the photos where no face was found."""
    crops, missed = [], []
    for path in sorted(p for p in people.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        found = detector.detect(image) if image is not None else Detections.empty()
        if image is None or len(found) == 0:
            missed.append(f"{path.parent.name}/{path.name}")
            continue
        row = largest(found)
        landmarks = None if found.landmarks is None else found.landmarks[row]
        crops.append((path.parent.name, path.name, FaceCrop.cut(image, found.xyxy[row], landmarks)))
    return crops, missed


def raw_dlib_norms(crops: Sequence[FaceCrop]) -> list[float]:
    """Norms of dlib's descriptors before Vigil normalises them, computed as the embedder does
    (dlib's "Euclidean distance < 0.6" rule applies to these raw vectors)."""
    import dlib
    import face_recognition_models as models

    predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    norms = []
    for crop in crops:
        rgb = np.ascontiguousarray(crop.image[:, :, ::-1])
        shape = predictor(rgb, dlib.rectangle(*(round(v) for v in crop.box)))
        chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
        norms.append(float(np.linalg.norm(np.asarray(net.compute_face_descriptor(chip)))))
    return norms


# ------------------------------------------------------------------ video
class ShotCuts:
    """Hard cuts: the mean grey-level change of a 64x36 thumbnail jumps above `threshold`."""

    def __init__(self, threshold: float = CUT_THRESHOLD) -> None:
        self.threshold = threshold
        self._previous: FloatArray | None = None

    def is_cut(self, image: Image) -> bool:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        thumb = cv2.resize(grey, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)
        cut = self._previous is not None and float(np.abs(thumb - self._previous).mean()) > self.threshold
        self._previous = thumb
        return cut


def track_video(
    path: Path, settings: VigilSettings, detector: FaceDetector, stride: int, min_quality: float
) -> VideoFaces:
    """Detect and track like the live analysis stage; keep good-enough crops per track segment."""
    tracker, faces, cuts = FaceTracker(settings.tracker), VideoFaces(), ShotCuts()
    source = open_source(str(path), settings.runtime)
    source.open()
    try:
        for index, raw in enumerate(source.frames()):
            image = raw.to_bgr()
            if cuts.is_cut(image):  # every frame: a cut between two detected frames still counts
                faces.cuts.append(index)
            if index % stride == 0:
                observe_frame(index, image, detector, tracker, settings, min_quality, faces)
    finally:
        source.close()
    tracker.finish()
    return faces


def observe_frame(
    index: int,
    image: Image,
    detector: FaceDetector,
    tracker: FaceTracker,
    settings: VigilSettings,
    min_quality: float,
    faces: VideoFaces,
) -> None:
    found = detector.detect(image)
    tracked = tracker.update(found).detections
    faces.frames += 1
    faces.faces += len(found)
    shot = len(faces.cuts) + 1
    labels = [f"t{int(t)}@s{shot}" for t in tracked.track_id]
    for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
        apart = overlap(tracked.xyxy[i], tracked.xyxy[j]) <= SAME_FACE_OVERLAP
        (faces.together if apart else faces.overlapping).add((min(a, b), max(a, b)))
    for row, label in enumerate(labels):
        faces.spans.setdefault(label, [index, index])[1] = index
        box = tracked.xyxy[row]
        landmarks = None if tracked.landmarks is None else tracked.landmarks[row]
        quality = face_quality(image, box, landmarks, float(tracked.score[row]), settings.quality).total
        best = faces.best.get(label)
        is_best = best is None or quality > best.quality
        if is_best or quality >= min_quality:
            candidate = Candidate(index, quality, FaceCrop.cut(image, box, landmarks))
            if is_best:
                faces.best[label] = candidate
            if quality >= min_quality:
                faces.candidates[label].append(candidate)


def overlap(a: FloatArray, b: FloatArray) -> float:
    """Intersection over the smaller box's area."""
    width = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    height = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    smaller = min(float((a[2] - a[0]) * (a[3] - a[1])), float((b[2] - b[0]) * (b[3] - b[1])))
    return width * height / max(smaller, 1e-6)


def spread(candidates: list[Candidate], count: int) -> list[Candidate]:
    """At most `count` candidates evenly spaced in time (neighbouring frames look alike)."""
    if len(candidates) <= count:
        return candidates
    picks = np.unique(np.linspace(0, len(candidates) - 1, count).round().astype(int))
    return [candidates[i] for i in picks]


def embed_segments(faces: VideoFaces, embedder: FaceEmbedder, per_track: int, timer: Timer) -> list[Sample]:
    samples = []
    for label, candidates in sorted(faces.candidates.items()):
        for cand in spread(candidates, per_track):
            vector = embed(embedder, cand.crop, timer)
            samples.append(Sample(label, f"frame {cand.frame}", vector, cand.quality))
    return samples


def embed_below_floor(faces: VideoFaces, embedder: FaceEmbedder, timer: Timer) -> list[Sample]:
    """The best face of each segment that has none above the floor (reference matching only)."""
    missing = sorted(set(faces.best) - set(faces.candidates))
    return [
        Sample(
            label,
            f"frame {faces.best[label].frame}",
            embed(embedder, faces.best[label].crop, timer),
            faces.best[label].quality,
        )
        for label in missing
    ]


def measure(args: argparse.Namespace) -> Results:
    started = time.perf_counter()
    settings, shared = VigilSettings(), shared_dir()
    detector = create_detector(settings.detector, [settings.resolved_models_dir, shared / "models"])
    embedder = create_embedder(settings.embedder, use_gpu=False, processes=0)
    timer = Timer()
    progress(f"photos: {detector.name} + {embedder.name}")
    crops, missed = photo_crops(shared / PEOPLE, detector)
    photos = [Sample(name, file, embed(embedder, crop, timer)) for name, file, crop in crops]
    norms = raw_dlib_norms([crop for _, _, crop in crops])
    progress(f"video: detect + track every {args.stride} frame(s)")
    faces = track_video(shared / HAMILTON, settings, detector, args.stride, args.min_quality)
    progress(f"video: embed up to {args.per_track} faces per track segment")
    video = embed_segments(faces, embedder, args.per_track, timer)
    below_floor = embed_below_floor(faces, embedder, timer)
    embedder.close()
    seconds = time.perf_counter() - started
    return Results(photos, missed, norms, faces, video, below_floor, timer, seconds, embedder.name)


# ------------------------------------------------------------------ pairs and rates
def pair_scores(name: str, samples: Sequence[Sample], impostor_labels: set[tuple[str, str]] | None) -> Scores:
    """Genuine = same label; impostor = different labels (only `impostor_labels` pairs if given)."""
    genuine, impostor = [], []
    for a, b in itertools.combinations(samples, 2):
        sim = float(np.dot(a.vector, b.vector))
        pair = (sim, f"{a.label} {a.source}", f"{b.label} {b.source}")
        if a.label == b.label:
            genuine.append(pair)
        elif impostor_labels is None or (min(a.label, b.label), max(a.label, b.label)) in impostor_labels:
            impostor.append(pair)
    genuine.sort()
    impostor.sort(reverse=True)
    return Scores(
        name,
        genuine=np.array([g[0] for g in genuine], np.float64),
        impostor=np.array([i[0] for i in impostor], np.float64),
        lowest_genuine=genuine[:5],
        highest_impostor=impostor[:5],
    )


def prototype_scores(name: str, samples: Sequence[Sample], impostor_labels: set[tuple[str, str]]) -> Scores:
    """Face vs segment mean, as a store search against mean prototypes sees it. Genuine: a face vs
    the mean of the other faces of its segment; impostor: a face vs a co-occurring segment's mean."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.label].append(sample)
    means = identity_means(samples)
    genuine, impostor = [], []
    for sample in samples:
        others = [o.vector for o in groups[sample.label] if o is not sample]
        if others:
            mean = np.mean(others, axis=0)
            genuine.append((float(sample.vector @ mean) / float(np.linalg.norm(mean)), sample, sample.label))
        for label, mean in means.items():
            if (min(label, sample.label), max(label, sample.label)) in impostor_labels:
                impostor.append((float(sample.vector @ mean), sample, label))
    genuine.sort(key=lambda x: x[0])
    impostor.sort(key=lambda x: -x[0])
    return Scores(
        name,
        genuine=np.array([g[0] for g in genuine], np.float64),
        impostor=np.array([i[0] for i in impostor], np.float64),
        lowest_genuine=[(x, f"{f.label} {f.source}", f"mean of {m}") for x, f, m in genuine[:5]],
        highest_impostor=[(x, f"{f.label} {f.source}", f"mean of {m}") for x, f, m in impostor[:5]],
    )


def far(scores: Scores, threshold: float) -> float:
    return float(np.mean(scores.impostor >= threshold)) if len(scores.impostor) else math.nan


def frr(scores: Scores, threshold: float) -> float:
    return float(np.mean(scores.genuine < threshold)) if len(scores.genuine) else math.nan


def equal_error(scores: Scores) -> tuple[float, float]:
    """(threshold, rate) where FAR and FRR are closest, searched over every observed score."""
    candidates = np.unique(np.concatenate([scores.genuine, scores.impostor]))
    gaps = [abs(far(scores, t) - frr(scores, t)) for t in candidates]
    best = float(candidates[int(np.argmin(gaps))])
    return best, (far(scores, best) + frr(scores, best)) / 2


def zero_far_threshold(*sets: Scores) -> float:
    """The lowest threshold on a 0.001 grid that accepts no impostor pair of any set."""
    top = max(float(s.impostor.max()) for s in sets if len(s.impostor))
    return math.floor(top * 1000 + 1) / 1000


def cost(sets: Sequence[Scores], threshold: float) -> float:
    """FALSE_ACCEPT_COST x mean FAR + mean FRR over the sets."""
    mean_far = float(np.mean([far(s, threshold) for s in sets]))
    mean_frr = float(np.mean([frr(s, threshold) for s in sets]))
    return FALSE_ACCEPT_COST * mean_far + mean_frr


def recommend(sets: Sequence[Scores], strict: Scores) -> float:
    """The table threshold of least cost among those accepting no impostor pair of `strict`
    (the photos: the only large set of good faces of different people); ties go higher."""
    allowed = [t for t in TABLE_THRESHOLDS if far(strict, t) == 0] or TABLE_THRESHOLDS
    return min(reversed(allowed), key=lambda t: cost(sets, t))


def identity_means(samples: Sequence[Sample]) -> dict[str, FloatArray]:
    """Per label, the normalised mean vector (a prototype built from several faces)."""
    groups: dict[str, list[FloatArray]] = defaultdict(list)
    for sample in samples:
        groups[sample.label].append(sample.vector)
    means = {label: np.mean(vectors, axis=0) for label, vectors in groups.items()}
    return {label: mean / np.linalg.norm(mean) for label, mean in means.items()}


def dlib_rule_similarity(norms: Sequence[float]) -> float:
    """The cosine similarity equivalent to dlib's distance rule for two raw descriptors of the
    median norm n: |a-b|^2 = 2 n^2 (1 - cos)."""
    n = float(np.median(norms))
    return 1.0 - DLIB_DISTANCE**2 / (2.0 * n * n)


# ------------------------------------------------------------------ report
@dataclass
class Analysis:
    photos: Scores
    video: Scores  # every embedded face (quality >= --min-quality)
    gated: Scores  # faces the live pipeline would embed (quality >= gating.min_quality)
    prototypes: Scores  # gated faces vs segment means
    floor: float  # --min-quality
    gate: float
    recommended: float
    dlib_rule: float

    @property
    def decisive(self) -> list[Scores]:
        return [self.photos, self.gated]


def analyse(results: Results, floor: float, gate: float) -> Analysis:
    photos = pair_scores("photos", results.photos, None)
    distinct = results.faces.distinct
    video = pair_scores("video", results.video, distinct)
    kept = [s for s in results.video if s.quality >= gate]
    gated = pair_scores(f"video q>={gate:g}", kept, distinct)
    prototypes = prototype_scores(f"prototypes q>={gate:g}", kept, distinct)
    recommended = recommend([photos, gated], photos)
    return Analysis(
        photos, video, gated, prototypes, floor, gate, recommended, dlib_rule_similarity(results.norms)
    )


def cell(scores: Scores, threshold: float, accepts: bool) -> str:
    pairs = scores.impostor if accepts else scores.genuine
    hits = int(np.sum(pairs >= threshold)) if accepts else int(np.sum(pairs < threshold))
    rate = far(scores, threshold) if accepts else frr(scores, threshold)
    return f"{rate:.3f} ({hits}/{len(pairs)})"


def rate_table(scores: Scores) -> list[str]:
    lines = [
        "| threshold | FAR (false accepts / impostor pairs) | FRR (false rejects / genuine pairs) |",
        "| ---: | ---: | ---: |",
    ]
    for t in TABLE_THRESHOLDS:
        lines.append(f"| {t:.2f} | {cell(scores, t, True)} | {cell(scores, t, False)} |")
    return lines


def overview_table(a: Analysis) -> list[str]:
    sets = [a.photos, a.video, a.gated, a.prototypes]
    head = " | ".join(f"{s.name} FAR | {s.name} FRR" for s in sets)
    lines = [f"| threshold | {head} | cost |", "| ---: " * (2 + 2 * len(sets)) + "|"]
    gated_zero, all_zero = zero_far_threshold(*a.decisive), zero_far_threshold(a.photos, a.video)
    points = [(f"{t:.2f}", t) for t in TABLE_THRESHOLDS]
    points += [
        (f"seed 001: {SEED_SIMILARITY:g}", SEED_SIMILARITY),
        (f"dlib rule: {a.dlib_rule:.3f}", a.dlib_rule),
        (f"FAR 0, photos + {a.gated.name}: {gated_zero:.3f}", gated_zero),
        (f"FAR 0, photos + {a.video.name}: {all_zero:.3f}", all_zero),
    ]
    for label, t in points:
        rates = " | ".join(f"{far(s, t):.3f} | {frr(s, t):.3f}" for s in sets)
        mark = "**" if t == a.recommended else ""
        lines.append(f"| {mark}{label}{mark} | {rates} | {cost(a.decisive, t):.3f} |")
    return lines


def distribution(scores: Scores) -> list[str]:
    def stats(values: FloatArray) -> str:
        if not len(values):
            return "none"
        low, median, high = np.quantile(values, [0.0, 0.5, 1.0])
        return f"{len(values)} pairs, min {low:.3f}, median {median:.3f}, max {high:.3f}"

    eer_t, eer = equal_error(scores)
    zero = zero_far_threshold(scores)
    return [
        f"- Genuine: {stats(scores.genuine)}.",
        f"- Impostor: {stats(scores.impostor)}.",
        f"- Equal error rate: **{eer:.3f}** at similarity {eer_t:.3f}.",
        f"- FAR = 0 from similarity {zero:.3f}, where FRR = {frr(scores, zero):.3f}.",
        "- Highest impostor pairs: " + "; ".join(f"{s:.3f} {x} / {y}" for s, x, y in scores.highest_impostor),
        "- Lowest genuine pairs: " + "; ".join(f"{s:.3f} {x} / {y}" for s, x, y in scores.lowest_genuine),
    ]


def reference_table(results: Results) -> list[str]:
    refs = identity_means(results.photos)
    segments = identity_means([*results.video, *results.below_floor])
    counts = defaultdict(list)
    for sample in [*results.video, *results.below_floor]:
        counts[sample.label].append(sample.quality)
    floor = {s.label for s in results.below_floor}
    names = " | ".join(REFERENCES)
    lines = [
        f"| segment | frames | faces embedded (quality) | best match | runner-up | {names} |",
        "| --- | --- | --- | --- | --- |" + " ---: |" * len(REFERENCES),
    ]
    order = sorted(segments, key=lambda label: results.faces.spans[label][0])
    for label in order:
        sims = sorted(((float(segments[label] @ v), k) for k, v in refs.items()), reverse=True)
        first, last = results.faces.spans[label]
        quality = counts[label]
        embedded = f"{len(quality)} ({min(quality):.2f}-{max(quality):.2f})"
        if label in floor:
            embedded = f"best face only ({quality[0]:.2f}, below floor)"
        named = " | ".join(
            f"{float(segments[label] @ refs[n]):.3f}" if n in refs else "-" for n in REFERENCES
        )
        lines.append(
            f"| {label} | {first}-{last} | {embedded} | {sims[0][1]} {sims[0][0]:.3f} "
            f"| {sims[1][1]} {sims[1][0]:.3f} | {named} |"
        )
    return lines


@dataclass(frozen=True)
class CrossSegment:
    """Two segments whose means best match the same reference person (likely one person)."""

    person: str
    a: str
    b: str
    faces: FloatArray  # face vs face similarities
    face_vs_mean: FloatArray  # each face vs the other segment's mean
    means: float  # mean vs mean


def same_person_segments(results: Results, threshold: float) -> list[CrossSegment]:
    refs, segments = identity_means(results.photos), identity_means(results.video)
    matched: dict[str, list[str]] = defaultdict(list)
    for label, mean in segments.items():
        score, name = max((float(mean @ v), k) for k, v in refs.items())
        if score >= threshold:
            matched[name].append(label)
    found = []
    for name, labels in sorted(matched.items()):
        for a, b in itertools.combinations(sorted(labels), 2):
            va = np.array([s.vector for s in results.video if s.label == a])
            vb = np.array([s.vector for s in results.video if s.label == b])
            to_mean = np.concatenate([va @ segments[b], vb @ segments[a]])
            found.append(
                CrossSegment(name, a, b, (va @ vb.T).ravel(), to_mean, float(segments[a] @ segments[b]))
            )
    return found


def cross_segment_lines(pairs: Sequence[CrossSegment], threshold: float) -> list[str]:
    def stats(values: FloatArray) -> str:
        return (
            f"{len(values)} pairs, min {values.min():.3f}, median {np.median(values):.3f}, max "
            f"{values.max():.3f}, accepted at {threshold:.2f}: {float(np.mean(values >= threshold)):.2f}"
        )

    return [
        f"- {p.person}: {p.a} vs {p.b}: face vs face {stats(p.faces)}; face vs the other segment's mean "
        f"{stats(p.face_vs_mean)}; mean vs mean {p.means:.3f}"
        for p in pairs
    ] or ["- none"]


def tracks_across_cuts(faces: VideoFaces) -> str:
    shots: dict[str, list[str]] = defaultdict(list)
    for label in faces.spans:
        track, shot = label.split("@")
        shots[track].append(shot)
    spanning = [f"{t} ({', '.join(sorted(s))})" for t, s in sorted(shots.items()) if len(s) > 1]
    return ", ".join(spanning) or "none"


def quality_sweep(results: Results, a: Analysis) -> list[str]:
    """Rates at the recommended threshold when only faces above each quality gate are used."""
    t = a.recommended
    gates = sorted({a.floor, a.gate, *QUALITY_GATES} - {g for g in QUALITY_GATES if g < a.floor})
    lines = [
        f"| quality gate | faces | genuine / impostor pairs | FAR at {t:.2f} | FRR at {t:.2f} "
        f"| vs means: FAR | vs means: FRR |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for gate in gates:
        kept = [s for s in results.video if s.quality >= gate]
        faces = pair_scores("", kept, results.faces.distinct)
        means = prototype_scores("", kept, results.faces.distinct)
        lines.append(
            f"| {gate:g} | {len(kept)} | {len(faces.genuine)} / {len(faces.impostor)} | {fmt(far(faces, t))} "
            f"| {fmt(frr(faces, t))} | {fmt(far(means, t))} | {fmt(frr(means, t))} |"
        )
    return lines


def clean_gate_sentence(results: Results, a: Analysis) -> str:
    """What raising the quality gate does to the clip's false accepts at the recommended threshold."""
    t = a.recommended
    for gate in sorted(g for g in {a.gate, *QUALITY_GATES} if g >= a.floor):
        kept = [s for s in results.video if s.quality >= gate]
        faces = pair_scores("", kept, results.faces.distinct)
        if not len(faces.impostor):
            return (
                f"From quality {gate:g} on, no two faces of the clip share a frame, so the clip cannot "
                "measure false accepts of good faces: the photo set is the evidence there."
            )
        if far(faces, t) == 0 and far(prototype_scores("", kept, results.faces.distinct), t) == 0:
            return (
                f"From quality {gate:g} on, no impostor comparison of the clip is accepted at {t:.2f} "
                f"({len(faces.impostor)} impostor pairs, FRR {frr(faces, t):.3f})."
            )
    return "No swept quality gate removes every false accept of the clip."


def fmt(rate: float) -> str:
    return "-" if math.isnan(rate) else f"{rate:.3f}"


def recommendation(a: Analysis, results: Results) -> list[str]:
    t, p, g, v = a.recommended, a.photos, a.gated, a.video
    zero = zero_far_threshold(*a.decisive)
    eer_t, eer = equal_error(g)
    lowest = min(float(s.impostor.min()) for s in (p, g))
    highest = max(float(s.impostor.max()) for s in (p, g))
    lines = [
        f"**Recommended default: `store.same_person_similarity = {t:.2f}`** "
        "(cosine similarity of L2-normalised dlib ResNet vectors; accept when >=).",
        "",
        "- Rule: among the table thresholds that accept no impostor pair of the photos (the only large "
        f"set of good faces of different people), the one of least cost = {FALSE_ACCEPT_COST:g} x mean FAR "
        "+ mean FRR over the photos and the video faces the live pipeline embeds (quality >= "
        f"{a.gate:g}, `gating.min_quality`). A false accept merges two people into one visitor (mixed "
        "photos and visit counts, invisible to the operator); a false reject creates a duplicate "
        "visitor, which is visible and repaired by `vigil visitors merge`; so a false accept counts "
        "double. The video's impostor side is too small to decide alone: it changes with `--stride`.",
        f"- Photos (sharp, frontal, different days: a returning visitor): at {t:.2f} FAR "
        f"{far(p, t):.3f}, FRR {frr(p, t):.3f}; genuine pairs lie in {p.genuine.min():.3f}-"
        f"{p.genuine.max():.3f}, impostors reach {p.impostor.max():.3f}.",
        f"- Video at the pipeline's quality gate: at {t:.2f} FAR {far(g, t):.3f}, FRR {frr(g, t):.3f} "
        f"(EER {eer:.3f} at {eer_t:.3f}). With every face of quality >= {a.floor:g}: FAR "
        f"{far(v, t):.3f}, FRR {frr(v, t):.3f}. Small, dark or defocused faces all look alike to dlib; "
        "the quality gate, not the threshold, keeps them apart (see the quality gate sweep below). "
        + clean_gate_sentence(results, a),
        f"- No impostor pair of the photos or the gated video is accepted from {zero:.3f} on, but there "
        f"FRR is {frr(p, zero):.3f} (photos) and {frr(g, zero):.3f} (video): this clip's few false "
        "accepts would be traded for many duplicate visitors.",
        *prototype_bullets(a, results),
        f'- Seed 001\'s "cosine distance < 0.4" (similarity > {SEED_SIMILARITY:g}) accepts every impostor '
        f"pair here (FAR {far(p, SEED_SIMILARITY):.3f} photos, {far(g, SEED_SIMILARITY):.3f} video): "
        f"different people already score {lowest:.3f}-{highest:.3f} with dlib's 128-d vectors. The "
        "seed's number fits 512-d ArcFace-style embedders, not this one.",
        f"- dlib's own rule (Euclidean distance < {DLIB_DISTANCE:g} between raw descriptors; their median "
        f"norm here is {float(np.median(results.norms)):.2f}) is similarity >= {a.dlib_rule:.3f}: FAR "
        f"{far(p, a.dlib_rule):.3f} photos, {far(g, a.dlib_rule):.3f} video.",
        "- These are per-pair rates on small sets (see the pair counts; pairs within one segment share "
        "light and pose, so video FRR is optimistic). A store search compares a face with N "
        "prototypes, so a newcomer is falsely merged with probability about 1-(1-FAR)^N: at video "
        f"FAR {far(g, t):.3f}, low-quality visitors will be merged in a store of any size whatever the "
        "threshold. Treat the video numbers as this embedder's limit on CCTV-like faces; a stronger "
        "embedder (the `onnx` type) needs its own calibration: rerun this script with it configured.",
    ]
    return lines


def prototype_bullets(a: Analysis, results: Results) -> list[str]:
    """The store compares a face with visitors' mean prototypes: what that changes."""
    t, m = a.recommended, a.prototypes
    eer_t, eer = equal_error(m)
    alt = recommend([a.photos, m], a.photos)
    gated = {s.label for s in results.video if s.quality >= a.gate}
    pairs = sum(1 for x, y in results.faces.distinct if x in gated and y in gated)
    lines = [
        f"- The store compares a face with each visitor's mean prototype. Against segment means both "
        f"genuine and impostor similarities rise: at {t:.2f} FAR {far(m, t):.3f}, FRR {frr(m, t):.3f} "
        f"(gated video; EER {eer:.3f} at {eer_t:.3f}). The same rule over photos and these comparisons "
        f"picks {alt:.2f} (video FAR {far(m, alt):.3f}, FRR {frr(m, alt):.3f}; photo FRR "
        f"{frr(a.photos, alt):.3f}); its impostor side is only {len(m.impostor)} comparisons from {pairs} "
        "pair(s) of co-occurring segments.",
    ]
    thresholds = [t] if alt == t else [t, alt]
    for pair in same_person_segments(results, t):
        to_mean = " and ".join(f"{float(np.mean(pair.face_vs_mean >= x)):.2f} at {x:.2f}" for x in thresholds)
        faces = " and ".join(f"{float(np.mean(pair.faces >= x)):.2f}" for x in thresholds)
        lines.append(
            f"- {pair.person} appears in two segments of the clip ({pair.a}, {pair.b}; another shot, "
            "scale and light: the closest case here to a returning visitor): their faces vs the other "
            f"segment's mean are accepted {to_mean}; face vs face {faces}."
        )
    if alt != t:
        lines.append(
            f"- The rule uses face pairs, not face-vs-mean comparisons, because the latter rest on "
            f"{len(m.impostor)} impostor comparisons here, too few to move the default to {alt:.2f} at the "
            f"price of photo FRR {frr(a.photos, alt):.3f} and split returning visitors (above). Rerun this "
            "script when more co-occurring good-quality faces are available."
        )
    return lines


def report(results: Results, a: Analysis, args: argparse.Namespace) -> str:
    info = machine_info()
    faces = results.faces
    per_embed = 1000 * results.timer.embed_s / max(results.timer.embeds, 1)
    method = "\n\n".join((__doc__ or "").split("\n\n")[1:4])
    lines = [
        "# Identity threshold calibration",
        "",
        "Generated by `python -m bench.calibrate --out docs/identity_calibration.md`; do not edit by hand.",
        f"Run {info['date']} on {info['cpu']} ({info['cores']} cores), {info['platform']}, Vigil "
        f"{info['vigil_revision']}; {results.seconds:.0f} s wall, {results.timer.embeds} embeddings at "
        f"{per_embed:.0f} ms each.",
        f"Libraries: {', '.join(f'{k} {v}' for k, v in info['versions'].items())}.",
        "",
        "## Recommendation",
        "",
        *recommendation(a, results),
        "",
        "## Method",
        "",
        method,
        "",
        f"Parameters: stride {args.stride}, quality floor {args.min_quality:g}, at most {args.per_track} "
        f"faces per segment, pipeline quality gate {a.gate:g}, cut threshold {CUT_THRESHOLD:g}; segments "
        f"whose boxes overlap by more than {SAME_FACE_OVERLAP:g} (of the smaller box) in some frame may "
        f"be one face and give no impostor pair. `{a.prototypes.name}` scores each gated face against "
        "the mean of the other faces of its segment (genuine) or of a co-occurring segment (impostor).",
        "",
        "## Overview",
        "",
        "Rates per threshold; `cost` is the recommendation rule over photos and the gated video set.",
        "",
        *overview_table(a),
        "",
        f"## Set 1: photos ({len(results.photos)} faces, {len(identity_means(results.photos))} people)",
        "",
        f"Photos without a face: {', '.join(results.missed) or 'none'}.",
        "",
        *distribution(a.photos),
        "",
        *rate_table(a.photos),
        "",
        "## Set 2: the hamilton clip",
        "",
        f"{faces.frames} frames detected, {faces.faces} faces, cuts before frames "
        f"{', '.join(map(str, faces.cuts)) or 'none'}; {len(faces.spans)} track segments, "
        f"{len({s.label for s in results.video})} with faces above the floor, {len(results.video)} "
        f"faces embedded. Tracks the tracker carried across a cut (one id, several people): "
        f"{tracks_across_cuts(faces)}. Segment pairs seen in one frame: {len(faces.distinct)} (plus "
        f"{len(faces.overlapping)} left out because their boxes overlapped).",
        "",
        *video_section(f"Every embedded face (quality >= {args.min_quality:g})", a.video),
        *video_section(f"Faces the pipeline would embed (quality >= {a.gate:g})", a.gated),
        *video_section(f"The same faces against segment means (quality >= {a.gate:g})", a.prototypes),
        "### Quality gate sweep",
        "",
        "Only faces at or above each quality gate; `vs means` compares faces with segment means.",
        "",
        *quality_sweep(results, a),
        "",
        "### Track segments vs the reference photos",
        "",
        "Cosine similarity between a segment's mean vector and each person's mean photo vector.",
        "",
        *reference_table(results),
        "",
        f"Segments whose best match is >= {a.recommended:.2f}, and how similar they are to each other:",
        "",
        *cross_segment_lines(same_person_segments(results, a.recommended), a.recommended),
        "",
    ]
    return "\n".join(lines)


def video_section(title: str, scores: Scores) -> list[str]:
    return [f"### {title}", "", *distribution(scores), "", *rate_table(scores), ""]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stride", type=int, default=1, help="detect every Nth frame (default 1)")
    parser.add_argument("--min-quality", type=float, default=0.3, help="quality floor (default 0.3)")
    parser.add_argument("--per-track", type=int, default=15, help="faces embedded per segment (default 15)")
    parser.add_argument("--out", type=Path, help="also write the markdown report to this file")
    parser.add_argument(
        "--watchlist-out",
        type=Path,
        help="also write the watchlist's score calibration of this embedder (JSON, see "
        "vigil/watchlist/calibration.py), e.g. vigil/watchlist/calibrations/<model>.json",
    )
    return parser.parse_args(argv)


def watchlist_calibration(a: Analysis, model: str) -> CalibrationFile:
    """The anchors of the watchlist's common score scale (vigil/watchlist/calibration.py) for this
    embedder, with the FAR/FRR measured at both levels (photos, and the gated video faces)."""
    impostors = np.concatenate([a.photos.impostor, a.gated.impostor])
    match_raw = zero_far_threshold(a.photos, a.gated)
    probable_raw = min(zero_far_threshold(a.photos), match_raw - 0.001)
    stranger = min(float(np.median(impostors)), probable_raw - 0.001)
    anchors = [(-1.0, 0.0), (stranger, 0.0), (probable_raw, PROBABLE), (match_raw, MATCH), (1.0, 1.0)]

    def rates(raw: float) -> LevelRates:
        return LevelRates(
            raw=raw,
            photos_far=far(a.photos, raw),
            photos_frr=frr(a.photos, raw),
            video_far=far(a.gated, raw),
            video_frr=frr(a.gated, raw),
        )

    info = machine_info()
    return CalibrationFile(
        model=model,
        generated=f"{info['date']} by `python -m bench.calibrate --watchlist-out` "
        f"(Vigil {info['vigil_revision']}); video: {a.gated.name}",
        anchors=anchors,
        impostor_min=float(impostors.min()),
        impostor_max=float(impostors.max()),
        rates={"match": rates(match_raw), "probable": rates(probable_raw)},
        # 0.02 under the lowest genuine face-vs-own-segment-mean similarity, on the table's 0.01 grid
        track_split_raw=math.floor((float(a.prototypes.genuine.min()) - 0.02) * 100) / 100,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = measure(args)
    analysis = analyse(results, args.min_quality, VigilSettings().gating.min_quality)
    text = report(results, analysis, args)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        progress(f"wrote {args.out}")
    if args.watchlist_out:
        calibration = watchlist_calibration(analysis, results.model)
        args.watchlist_out.write_text(calibration.model_dump_json(indent=2) + "\n", encoding="utf-8")
        progress(f"wrote {args.watchlist_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
