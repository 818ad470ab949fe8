"""One score scale for every embedder, so seed 004's thresholds (0.55 match, 0.45 probable) mean
the same whatever the embedder.

Each embedder's raw cosine similarity is mapped onto the scale by a monotone piecewise-linear
function through anchors measured by the calibration benchmark (`python -m bench.calibrate
--watchlist-out`), on the shared photos and the faces of the hamilton clip the live pipeline embeds:

- 0.00: the median similarity of two different people (a typical stranger);
- 0.45 (probable): the lowest similarity no impostor pair of the photos reaches;
- 0.55 (match): the lowest similarity no impostor pair of the photos nor of the video reaches;
- 1.00: identical vectors.

The file also records the FAR/FRR measured at both levels, published in docs/watchlist.md, and the
raw similarity under which a face does not belong to its track's person (`track_split_raw`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.errors import ConfigError
from vigil.watchlist.config import ScoreScale, Thresholds, WatchlistConfig

PROBABLE, MATCH = 0.45, 0.55  # the anchored levels of the scale


class LevelRates(BaseModel):
    """Rates of one level measured by the benchmark (per pair of faces)."""

    model_config = ConfigDict(extra="forbid")

    raw: float
    photos_far: float
    photos_frr: float
    video_far: float
    video_frr: float


class CalibrationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    generated: str = Field(description="When and how the benchmark wrote this file")
    anchors: list[tuple[float, float]] = Field(min_length=2, description="(raw similarity, score), rising")
    impostor_min: float = Field(description="Lowest similarity of two different people measured")
    impostor_max: float = Field(description="Highest similarity of two different people measured")
    rates: dict[str, LevelRates] = Field(description="By level: match, probable")
    track_split_raw: float | None = Field(
        None,
        description="A track's new face less similar than this to the track's prototype so far is taken "
        "for another person (the tracker kept an id across a cut or a crossing): the track's evidence "
        "restarts. Set below every genuine face-vs-own-segment-mean similarity the benchmark measured.",
    )

    @model_validator(mode="after")
    def _rising(self) -> CalibrationFile:
        raws = [a[0] for a in self.anchors]
        scores = [a[1] for a in self.anchors]
        if any(b <= a for a, b in pairwise(raws)) or scores != sorted(scores):
            raise ValueError("calibration anchors must rise")
        return self


@dataclass(frozen=True)
class Calibration:
    """The map of one embedder (model name) from raw cosine similarity to the common score."""

    data: CalibrationFile

    def score(self, raw: float | np.ndarray) -> np.ndarray:
        raws, scores = zip(*self.data.anchors, strict=True)
        return np.asarray(np.clip(np.interp(raw, raws, scores), 0.0, 1.0), np.float64)

    def raw_for(self, score: float) -> float:
        """The raw similarity that maps to `score` (the inverse, on the anchors' range)."""
        raws, scores = zip(*self.data.anchors, strict=True)
        return float(np.interp(score, scores, raws))


CALIBRATIONS = "calibrations"


def calibration_path(model: str) -> Path:
    return Path(str(resources.files("vigil.watchlist") / CALIBRATIONS / f"{model}.json"))


def load_calibration(model: str) -> Calibration | None:
    path = calibration_path(model)
    if not path.is_file():
        return None
    return Calibration(CalibrationFile.model_validate(json.loads(path.read_text(encoding="utf-8"))))


@dataclass(frozen=True)
class Scorer:
    """Raw similarities -> the scale the thresholds are written on (checked once, at start)."""

    scale: ScoreScale
    calibration: Calibration | None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.scale == "raw":
            return np.asarray(raw, np.float64)
        assert self.calibration is not None
        return self.calibration.score(raw)


def scorer_for(model: str, config: WatchlistConfig) -> Scorer:
    """The scorer of the embedder `model`; ConfigError when the thresholds cannot work with it."""
    calibration = load_calibration(model)
    if config.score_scale == "calibrated":
        if calibration is None:
            raise ConfigError(
                f"no watchlist calibration for the embedder model {model!r}: run `python -m bench.calibrate "
                f"--watchlist-out {calibration_path(model)}` with that embedder, or set "
                "watchlist.score_scale: raw with thresholds chosen from your own measurements"
            )
        return Scorer("calibrated", calibration)
    if calibration is not None:
        for where, pair in [
            ("", config),
            *((f" (camera {n})", t) for n, t in config.camera_thresholds.items()),
        ]:
            _refuse_useless_raw(pair, calibration, where)
    return Scorer("raw", calibration)


def _refuse_useless_raw(pair: Thresholds, calibration: Calibration, where: str) -> None:
    floor = calibration.data.impostor_min
    for name in ("warn_threshold", "similarity_threshold"):
        value = getattr(pair, name)
        if value <= floor:
            raise ConfigError(
                f"watchlist.{name} = {value}{where} on the raw scale accepts every impostor of the "
                f"calibration set (different people score from {floor:.3f} with {calibration.data.model}): "
                f"use score_scale: calibrated (0.55/0.45 mean the same for every embedder), or a raw value "
                f"near {calibration.raw_for(MATCH if name == 'similarity_threshold' else PROBABLE):.3f}"
            )
