"""Hard cuts in a live stream, scored on every decoded frame in the decode thread.

The analysis thread sees one frame in six (5 fps from 30): between two of those a fast zoom
differs as much as a cut does, so the decision is taken here on consecutive decoded frames, where
the rule of `vigil.cuts` holds, and travels with the next sampled frame as its shot number. A
number, not a flag: the frame queue may drop the very frame after the cut, never the count.

Cost: an area-scaled 48x27 thumbnail straight from the decoder's YUV frame plus the score,
~0.1 ms per frame at 360p and ~0.5-1 ms at 1080p (docs/benchmarks.md), against 1-2 ms and
18-29 ms of decoding."""

from __future__ import annotations

from vigil.cuts import THUMB_SIZE, CutDetector, signature
from vigil.sources import RawFrame


class ShotCounter:
    """Counts the shots of one stream. Not thread-safe: owned by the decode thread."""

    def __init__(self, detector: CutDetector | None = None) -> None:
        self.detector = detector or CutDetector()
        self.shot = 0  # cuts so far: the shot number of the last frame observed
        self._forced = False

    def force(self) -> None:
        """The next frame starts a new shot whatever it looks like (a file camera looped)."""
        self._forced = True

    def observe(self, raw: RawFrame) -> bool:
        """Score `raw` against the previous decoded frame; True when it starts a new shot."""
        cut = self.detector.update(signature(raw.thumbnail(*THUMB_SIZE))) or self._forced
        self._forced = False
        if cut:
            self.shot += 1
        return cut
