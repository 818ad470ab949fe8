"""File analysis (`vigil activity analyse`, the `activity` job): cues -> windows -> decisions ->
segments -> the JSON of result.py.

Vision cues are sampled every `activity.sample_interval_s` (vision.py); the file's own audio
track gives the audio cues (audio.py; none when it has no audio). Cues can be cached between
runs (cache.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vigil.activity.cache import CachedCues, cache_file, load_cues, save_cues
from vigil.activity.classify import WindowClassifier, create_classifier
from vigil.activity.evaluate import clip_features
from vigil.activity.media_times import media_times
from vigil.activity.result import ActivityAnalysis, distribution, dominant, segment_out
from vigil.activity.settings import ActivitySettings
from vigil.activity.timeline import segments_of
from vigil.config import VigilSettings
from vigil.jobs.workers import chunk_executor

__all__ = ["analyse_cues", "analyse_file", "classifier_for", "extract_cues"]

Progress = Callable[[int, int], None]  # (samples done, samples expected)


def extract_cues(
    path: Path,
    settings: VigilSettings,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    cache_dir: Path | None = None,
) -> CachedCues:
    interval = settings.activity.sample_interval_s
    cached_at = cache_file(cache_dir, path, interval) if cache_dir is not None else None
    if cached_at is not None and (cached := load_cues(cached_at)) is not None:
        return cached
    from vigil.activity.audio import audio_samples  # heavy imports only when extracting
    from vigil.activity.parallel import CuePool, planned_workers
    from vigil.activity.yamnet import load_yamnet

    dirs = settings.model_search_dirs()
    times = media_times(path)  # once: the sampling (every chunk's, in parallel) is told, not re-probing
    executor = chunk_executor(settings.jobs)  # local processes or Ray (the job system's in a job)
    workers = planned_workers(times.duration, settings.activity.workers, executor)
    given_up = threading.Event()
    with ThreadPoolExecutor(1, "activity-audio") as sound:  # the audio track meanwhile, on its own
        audio_future = sound.submit(audio_samples, path, load_yamnet(dirs), stop=given_up)
        try:
            with CuePool(workers, dirs, executor) as pool:  # locally threads: same chunks for any count
                visual = pool.samples(
                    path, interval, times.duration, on_progress, cancel, last_frame_s=times.last_frame_s
                )
        except BaseException:  # cancelled or failed: the audio is not waited for to the end
            given_up.set()
            raise
        audio = audio_future.result()
    cues = CachedCues(duration=times.duration, visual=visual, audio=audio)
    if cached_at is not None:
        save_cues(cached_at, cues)
    return cues


def classifier_for(settings: VigilSettings) -> WindowClassifier:
    return create_classifier(settings.activity, str(settings.data_dir / "activity_model.joblib"))


def analyse_cues(
    path: Path, cues: CachedCues, options: ActivitySettings, classifier: WindowClassifier, seconds: float
) -> ActivityAnalysis:
    features = clip_features(cues, options)
    decisions = classifier.decide(features)
    segments = segments_of(decisions, cues.duration, options.min_segment_s, options.asleep_min_s)
    return ActivityAnalysis(
        input=str(path),
        duration_s=round(cues.duration, 3),
        classifier=classifier.name,
        sample_interval_s=options.sample_interval_s,
        window_s=options.window_s,
        hop_s=options.hop_s,
        has_audio=bool(cues.audio),
        samples=len(cues.visual),
        dominant=dominant(segments),
        distribution=distribution(segments, cues.duration),
        segments=[segment_out(s, features) for s in segments],
        seconds=round(seconds, 3),
    )


def analyse_file(
    path: Path,
    settings: VigilSettings,
    classifier: WindowClassifier | None = None,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    cache_dir: Path | None = None,
) -> ActivityAnalysis:
    """Raises SourceUnsupported (unreadable media), ModelError (a model file missing),
    VisionCancelled (cancel set)."""
    started = time.perf_counter()
    chosen = classifier or classifier_for(settings)
    cues = extract_cues(path, settings, on_progress, cancel, cache_dir)
    return analyse_cues(path, cues, settings.activity, chosen, time.perf_counter() - started)
