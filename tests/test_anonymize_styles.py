"""Face covering styles (issue 17): each style hides the face from three detectors on a real
photo, leaves the rest of the frame as it was, and copes with boxes at and beyond the edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import read_image
from vigil.anonymize.styles import FACE_STYLES, FaceRegion, FaceStyle, cover_faces, padded_box
from vigil.detect import create_detector
from vigil.detect.blazeface import BlazeFaceConfig
from vigil.detect.dlib_hog import DlibHogConfig
from vigil.detect.yunet import YuNetConfig


@pytest.fixture(scope="module")
def group() -> np.ndarray:
    return read_image("media/faces/groups/obama_and_biden.jpg")


def _regions(image: np.ndarray, models_dir: Path) -> list[FaceRegion]:
    found = create_detector(YuNetConfig(), [models_dir]).detect(image)
    assert len(found) >= 2
    landmarks = found.landmarks
    return [
        FaceRegion(tuple(float(v) for v in found.xyxy[i]), None if landmarks is None else landmarks[i])  # type: ignore[arg-type]
        for i in range(len(found))
    ]


@pytest.mark.parametrize("style", FACE_STYLES)
def test_every_style_hides_the_faces_from_other_detectors(
    style: FaceStyle, group: np.ndarray, models_dir: Path
) -> None:
    regions = _regions(group, models_dir)
    covered = cover_faces(group.copy(), regions, style)
    for config in (YuNetConfig(score_threshold=0.6), BlazeFaceConfig(), DlibHogConfig()):
        assert len(create_detector(config, [models_dir]).detect(covered)) == 0, (style, config.type)


@pytest.mark.parametrize("style", FACE_STYLES)
def test_pixels_outside_the_padded_boxes_are_untouched(
    style: FaceStyle, group: np.ndarray, models_dir: Path
) -> None:
    regions = _regions(group, models_dir)
    covered = cover_faces(group.copy(), regions, style, pad=0.25)
    outside = np.ones(group.shape[:2], bool)
    height, width = group.shape[:2]
    for region in regions:
        area = padded_box(region.box, 0.25, width, height)
        assert area is not None
        left, top, right, bottom = area
        outside[top:bottom, left:right] = False
        inside = covered[top:bottom, left:right].astype(int) - group[top:bottom, left:right]
        assert np.abs(inside).mean() > 5, f"{style} changed too little of the face"
    if style == "mask":  # a landmark ellipse may reach past the box: allow a thin margin
        assert np.mean(np.any(covered != group, axis=2)[outside]) < 0.01
    else:
        assert np.array_equal(covered[outside], group[outside])


def test_boxes_at_and_beyond_the_edges() -> None:
    assert padded_box((-50, -50, -10, -10), 0.25, 100, 100) is None
    assert padded_box((90, 90, 140, 140), 0.25, 100, 100) == (77, 77, 100, 100)
    image = np.full((100, 100, 3), 200, np.uint8)
    image[::2] = 0  # detail to remove
    for style in FACE_STYLES:
        out = cover_faces(image.copy(), [FaceRegion((80.0, 80.0, 130.0, 130.0))], style)
        assert out.shape == image.shape and not np.array_equal(out[85:, 85:], image[85:, 85:]), style
        assert np.array_equal(out[:60], image[:60]), style
