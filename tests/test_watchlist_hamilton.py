"""Issue 15's accuracy goal on the shared clip, through the live pipeline and the watchlist monitor
(`bench.watchlist_accuracy`, the path of `vigil watch --events`): lin_manuel_miranda and
alex_lacamoire enrolled from their photos, hamilton played once (~12 s here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.watchlist_accuracy import AccuracyReport, run
from vigil.config import GatingConfig

LIN, ALEX = "lin_manuel_miranda", "alex_lacamoire"
# Where Lin is on screen (stream seconds, as the pipeline counts them): on stage, then in close-up.
LIN_ON_SCREEN = [(0.0, 0.7), (2.7, 7.1)]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> AccuracyReport:
    return run([LIN, ALEX], data_dir=Path(tmp_path_factory.mktemp("data")))


def test_lin_is_matched_and_nobody_else_raises_an_alert(report: AccuracyReport, hamilton: Path) -> None:
    assert [e.accepted for e in report.enrolled] == [1, 2]
    assert report.alerted().get(LIN) == "match"
    for alert in report.alerts:  # every alert is Lin's, raised while Lin is on screen
        assert alert["person"] == LIN, alert
        assert any(start <= float(str(alert["pts"])) <= end for start, end in LIN_ON_SCREEN), alert
    # Every track with a face worth a look got one (the tiny pianist's and the audience's too): a
    # face of gating.min_quality, or of first_min_quality once the track is first_wait_s old.
    gating = GatingConfig()

    def worth(age: float, quality: float) -> bool:
        return quality >= gating.min_quality or (
            age >= gating.first_wait_s and quality >= gating.first_min_quality
        )

    looked = [t for t in report.tracks if any(worth(age, q) for age, q in t.qualities)]
    assert len(looked) >= 9 and all(t.faces for t in looked)
    assert all(not t.faces for t in report.tracks if t not in looked)
    assert report.embed_dropped == 0


@pytest.mark.xfail(
    strict=True,
    reason="dlib's descriptor: alex_lacamoire appears as a 25 px face and in full profile; his best "
    "face scores 0.41 calibrated, audience faces reach 0.39 (docs/watchlist.md)",
)
def test_alex_lacamoire_is_matched(report: AccuracyReport) -> None:
    assert report.alerted().get(ALEX) == "match"
