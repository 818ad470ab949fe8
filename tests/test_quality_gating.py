import cv2
import numpy as np
import pytest

from vigil.config import GatingConfig, QualityConfig
from vigil.live.gating import RecognitionGate
from vigil.live.quality import QualityParts, face_quality, frontality_term

CONFIG = QualityConfig()
FRONTAL = np.array([[40, 45], [80, 45], [60, 70], [45, 90], [75, 90]], np.float32)


def _textured(size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.resize(
        rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_NEAREST
    )


def test_bigger_sharper_frontal_face_scores_higher() -> None:
    image = _textured(120)
    box = np.array([0, 0, 120, 120], np.float32)
    good = face_quality(image, box, FRONTAL, 0.9, CONFIG).total
    small = face_quality(image, np.array([0, 0, 24, 24], np.float32), FRONTAL / 5, 0.9, CONFIG).total
    blurred = face_quality(cv2.GaussianBlur(image, (0, 0), 6), box, FRONTAL, 0.9, CONFIG).total
    turned = FRONTAL.copy()
    turned[2, 0] = 78  # nose near the left eye: head turned
    profile = face_quality(image, box, turned, 0.9, CONFIG).total
    assert min(small, blurred, profile) >= 0.0 and good <= 1.0
    assert good > small and good > blurred and good > profile


def test_frontality_terms() -> None:
    assert frontality_term(FRONTAL) == pytest.approx(1.0)
    assert frontality_term(None) == 0.5
    rolled = FRONTAL.copy()
    rolled[1] = [80, 85]  # eye line tilted 45 degrees
    assert frontality_term(rolled) == pytest.approx(0.0, abs=0.02)


def test_one_zero_factor_pulls_quality_down() -> None:
    assert QualityParts(1, 1, 1, 1).total == pytest.approx(1.0)
    assert QualityParts(0, 1, 1, 1).total < 0.1


def test_gate_embeds_new_then_only_clearly_better_at_most_n() -> None:
    gate = RecognitionGate(GatingConfig(min_quality=0.5, improvement_margin=0.1, max_embeddings=3))
    decisions = [gate.observe(7, q, 0.0).embed for q in (0.3, 0.55, 0.6, 0.66, 0.7, 0.9, 0.95, 0.99)]
    # 0.3 below min; 0.55 first; 0.6 not +0.1; 0.66 yes; 0.7 no; 0.9 yes (3rd); then capped.
    assert decisions == [False, True, False, True, False, True, False, False]
    state = gate.tracks[7]
    assert state.embeddings == 3 and state.frames == 8 and state.best_quality == pytest.approx(0.99)


def test_gate_keeps_best_crop() -> None:
    gate = RecognitionGate(GatingConfig())
    crops = {q: np.full((4, 4, 3), int(q * 100), np.uint8) for q in (0.4, 0.8, 0.6)}
    bests = []
    for q, crop in crops.items():
        observation = gate.observe(1, q, 0.0)
        bests.append(observation.best)
        if observation.best:
            gate.keep_crop(1, crop)
    assert bests == [True, True, False]
    best = gate.end(1)
    assert best is not None and best.best_crop is not None and int(best.best_crop[0, 0, 0]) == 80


def test_every_track_gets_a_first_chance_after_a_short_wait() -> None:
    """A small or turned face never reaching min_quality is still embedded once (the watchlist may
    know it), but only after first_wait_s, so a good face arriving meanwhile goes instead."""
    config = GatingConfig(min_quality=0.45, first_wait_s=0.3, first_min_quality=0.25, refresh_s=0)
    gate = RecognitionGate(config)
    gate.start(1, 10.0)
    poor = [gate.observe(1, q, 10.0 + t) for t, q in ((0.0, 0.32), (0.2, 0.30), (0.4, 0.31), (0.6, 0.32))]
    assert [o.embed for o in poor] == [False, False, True, False]
    assert not poor[2].first  # a poor face: not urgent, good faces pass first under load
    assert gate.observe(1, 0.42, 10.8).embed  # an improvement by the margin still goes
    good = gate.observe(1, 0.8, 11.0)  # the track's first good face (e.g. after a cut): urgent
    assert good.embed and good.first and not gate.observe(1, 0.95, 11.2).first
    gate.start(2, 10.0)
    assert not any(gate.observe(2, 0.2, 10.0 + t / 5).embed for t in range(20))  # below first_min_quality
    gate.start(3, 10.0)
    quick = [gate.observe(3, q, 10.0 + t) for t, q in ((0.0, 0.3), (0.2, 0.5))]
    assert [o.embed for o in quick] == [False, True] and quick[1].first  # a good face within the wait


def test_a_well_seen_track_is_embedded_again_every_refresh_s() -> None:
    """More faces of the same good quality (one face is a noisy sample), bounded by max_embeddings;
    a poor track gets no refresh."""
    config = GatingConfig(min_quality=0.45, improvement_margin=0.1, refresh_s=1.0, max_embeddings=4)
    gate = RecognitionGate(config)
    steps = [(0.0, 0.8), (0.5, 0.8), (1.0, 0.75), (1.6, 0.8), (2.1, 0.65), (2.2, 0.9), (3.5, 0.85)]
    steps.append((5.0, 0.9))
    embedded = [gate.observe(1, q, t).embed for t, q in steps]
    # first; not due; due and within the margin; not due; due but 0.15 below the best; an
    # improvement (>= 0.8 + 0.1); due, within the margin of 0.9: the 4th and last.
    assert embedded == [True, False, True, False, False, True, True, False]
    gate.start(2, 0.0)
    poor = [gate.observe(2, 0.3, t / 5).embed for t in range(30)]  # 6 s of faces below min_quality
    assert sum(poor) == 1
