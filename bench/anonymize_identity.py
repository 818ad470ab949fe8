"""Is anything left to recognise, and is the rest of the picture untouched? (issue 17)

For each clip: `vigil anonymize` (faces `--faces`, default blur), then the input and output decoded
in step. On every `--step`-th frame, every face YuNet (score 0.6) finds in the input is embedded
twice with the store's embedder (dlib ResNet through onnxruntime): from the input and from the
output at the same place (the input's landmarks align both crops). The output face must not be the
same person for the store: cosine below `store.same_person_similarity` (0.91) for 100% of faces.
Where the input frame has other faces, the bench also counts the covered faces that are no closer
to their original than another person's face of the frame is (a dark audience face and its dark
blurred patch can both look like "any dark face" to the embedder). Faces the embedder cannot tell
from a flat grey patch (the input with the face filled grey scores >= the threshold against it:
dark or tiny faces) carry no identity for it and are counted apart. That definition rests on one
arbitrary colour (dark grey): a flat fill of the padded box with the face's own mean colour, or
its edge's, is a patch with no face in it just as well, and for some faces it scores at or above
the threshold where the grey does not. So the bench also reports the share below the threshold
among the faces that no such faceless fill (grey, own mean, own edge colour) brings to it, and
counts the faces at or above it after covering that a flat fill of their own colours matches
too: nothing of the face is needed to reach their score. `--list` prints every face at or above
the threshold after covering (frame, box, scores of the output and of the faceless fills).
As a check that the embedder would have recognised them, each input face is also compared with
the face at the same place `--step` frames later (input to input).

Background: SSIM (Gaussian window, 11 px, sigma 1.5, on luma) between input and output frames over
the pixels outside every face YuNet finds in the input, each box grown by 0.6 of its size (the
default pad 0.4 plus a margin); the issue asks >= 0.99 (the seed > 0.85 for the whole frame). That
area still holds faces YuNet@0.6 misses but the face pass covered (held through a missed detection,
found at a lower score, or in a larger box), which are person, not background. So the bench also
reports the SSIM outside every area the pipeline covered as well (its own face schedule, each box
padded as rendered, grown by the SSIM window's 5 px): what is left there is the H.264 re-encode.
SSIM is written here (20 lines) rather than adding scikit-image for one benchmark figure.

    python -m bench.anonymize_identity [--clips hamilton_640x360.mp4 ...] [--step 5] [--faces blur] [--list]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.anonymize.faces import find_faces, tracking_settings
from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.run import anonymize_videos
from vigil.anonymize.styles import FaceRegion, cover_faces, padded_box
from vigil.config import VigilSettings, load_settings
from vigil.detect import create_detector
from vigil.detect.yunet import YuNetConfig
from vigil.embed import create_embedder
from vigil.embed.base import FaceCrop, FaceEmbedder
from vigil.types import Image

SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
CLIPS = ["hamilton_640x360.mp4", "single_face.mp4", "expressions_640x360.mp4", "crowd_1080p.mp4"]
MIN_FACE_PX = 24  # the embedder's smallest useful face; smaller ones are counted apart


def frames(path: Path) -> Iterator[Image]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="bgr24")


def ssim_map(a: Image, b: Image) -> np.ndarray:
    """Wang et al.'s SSIM per pixel, luma, Gaussian window sigma 1.5 (11 px)."""
    x = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    result: np.ndarray = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return result


def _flat_fills(frame: Image, box: tuple[float, float, float, float]) -> list[Image]:
    """The frame with the face's padded box (pad 0.4) filled flat with the box's mean colour, and
    with the mean colour of the box's edge: no face at all, only its colours."""
    height, width = frame.shape[:2]
    area = padded_box(box, 0.4, width, height)
    if area is None:
        return []
    left, top, right, bottom = area
    region = frame[top:bottom, left:right]
    edge = np.concatenate((region[0], region[-1], region[:, 0], region[:, -1]))
    fills = []
    for colour in (region.reshape(-1, 3).mean(axis=0), edge.mean(axis=0)):
        filled = frame.copy()
        filled[top:bottom, left:right] = np.round(colour).astype(np.uint8)
        fills.append(filled)
    return fills


SSIM_REACH_PX = 5  # half the SSIM window: a covered pixel lowers the SSIM of pixels this far away


def _covered_masks(clip: Path, settings: VigilSettings, work_dir: Path) -> Iterator[np.ndarray]:
    """Per frame, True where the pipeline covered a face (its own face pass and schedule, boxes
    padded as rendered), grown by the SSIM window's reach."""
    options = settings.anonymize.faces
    work_dir.mkdir(exist_ok=True)
    found, _ = find_faces([clip], tracking_settings(settings.track, options), work_dir)
    faces = found[clip]
    schedule = FaceSchedule(faces.tracks, options.hold_frames, faces.total_frames, faces.shot_cuts)
    for number, frame in enumerate(frames(clip), start=1):
        height, width = frame.shape[:2]
        covered = np.zeros((height, width), bool)
        for region in schedule.regions(number):
            area = padded_box(region.box, options.pad, width, height)
            if area is not None:
                left, top, right, bottom = area
                reach = SSIM_REACH_PX
                covered[max(0, top - reach) : bottom + reach, max(0, left - reach) : right + reach] = True
        yield covered


def _similarity(
    embedder: FaceEmbedder, original: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None, image: Image
) -> float:
    """Cosine between `original` and the face at `box` in `image` (vectors are L2-normalised)."""
    return float(np.dot(original, embedder.embed(FaceCrop.cut(image, box, landmarks)).vector))


def measure(clip: Path, out_dir: Path, step: int, style: str, listing: bool = False) -> dict[str, float]:
    settings = load_settings(
        shared_dir=SHARED, track={"cpu_workers": 2}, anonymize={"faces": {"style": style}}
    )
    report = anonymize_videos([clip], out_dir, settings)
    output = report.done[clip]
    dirs = settings.model_search_dirs()
    detector = create_detector(YuNetConfig(score_threshold=0.6), dirs)
    embedder = create_embedder(settings.embedder)
    threshold = settings.store.same_person_similarity
    anonymised: list[float] = []
    beaten = 0  # covered faces no closer to their original than another face of the frame is
    unchanged: list[float] = []
    small = 0
    uninformative = 0
    matched_by_flat = 0  # of the faces at or above the threshold: a flat fill of their colours is too
    own_colours: list[float] = []  # the faces no faceless fill of any of these colours matches
    background: list[float] = []
    uncovered: list[float] = []  # outside every area the pipeline covered, too
    previous: dict[int, np.ndarray] = {}
    covered_masks = _covered_masks(clip, settings, out_dir / "faces")
    for index, (before, after, covered) in enumerate(
        zip(frames(clip), frames(output), covered_masks, strict=True)
    ):
        if index % step:
            continue
        found = detector.detect(before)
        mask = np.ones(before.shape[:2], bool)
        current: dict[int, np.ndarray] = {}
        for row in range(len(found)):
            box = found.xyxy[row]
            landmarks = None if found.landmarks is None else found.landmarks[row]
            x1, y1, x2, y2 = box
            grow_x, grow_y = (x2 - x1) * 0.6, (y2 - y1) * 0.6  # the default pad 0.4 plus margin
            mask[max(0, int(y1 - grow_y)) : int(y2 + grow_y), max(0, int(x1 - grow_x)) : int(x2 + grow_x)] = (
                False
            )
            if x2 - x1 < MIN_FACE_PX:
                small += 1
                continue
            original = embedder.embed(FaceCrop.cut(before, box, landmarks)).vector
            similarity = partial(_similarity, embedder, original, box, landmarks)
            blank = cover_faces(before.copy(), [FaceRegion((x1, y1, x2, y2))], "solid", pad=0.4)
            grey = similarity(blank)
            if grey >= threshold:
                uninformative += 1  # a flat grey patch is "the same person": nothing to measure
                continue
            flat = max((similarity(fill) for fill in _flat_fills(before, (x1, y1, x2, y2))), default=0.0)
            anonymised.append(similarity(after))
            if flat < threshold:
                own_colours.append(anonymised[-1])
            if anonymised[-1] >= threshold:
                matched_by_flat += flat >= threshold
                if listing:
                    print(
                        f"  {clip.name} frame {index} box {[round(float(v)) for v in box]} "
                        f"({x2 - x1:.0f} px across): after {anonymised[-1]:.3f}, grey fill {grey:.3f}, "
                        f"own-colour fill {flat:.3f}"
                    )
            others = [
                float(
                    np.dot(
                        original,
                        embedder.embed(
                            FaceCrop.cut(
                                before, found.xyxy[o], None if found.landmarks is None else found.landmarks[o]
                            )
                        ).vector,
                    )
                )
                for o in range(len(found))
                if o != row and found.xyxy[o][2] - found.xyxy[o][0] >= MIN_FACE_PX
            ]
            beaten += bool(others) and anonymised[-1] <= max(others)
            key = round(float(x1) / 40) * 1000 + round(float(y1) / 40)  # same place, step frames on
            if key in previous:
                unchanged.append(float(np.dot(previous[key], original)))
            current[key] = original
        previous = current
        similarity_map = ssim_map(before, after)
        values = similarity_map[mask]
        if values.size:
            background.append(float(values.mean()))
        values = similarity_map[mask & ~covered]
        if values.size:
            uncovered.append(float(values.mean()))
    embedder.close()
    return {
        "faces": len(anonymised),
        "small_faces_skipped": small,
        "uninformative_faces": uninformative,
        "above_threshold_also_for_a_flat_fill": matched_by_flat,
        "max_cosine_after": max(anonymised, default=float("nan")),
        "share_below_threshold": sum(v < threshold for v in anonymised) / max(1, len(anonymised)),
        "median_cosine_after": statistics.median(anonymised) if anonymised else float("nan"),
        "faces_no_own_colour_fill_matches": len(own_colours),
        "share_below_threshold_of_those": sum(v < threshold for v in own_colours) / max(1, len(own_colours)),
        "max_cosine_after_of_those": max(own_colours, default=float("nan")),
        "share_no_closer_than_another_face": beaten / max(1, len(anonymised)),
        "input_pairs": len(unchanged),
        "input_pairs_same_person": sum(v >= threshold for v in unchanged) / max(1, len(unchanged)),
        "background_ssim_median": statistics.median(background) if background else float("nan"),
        "background_ssim_min": min(background, default=float("nan")),
        "background_outside_covers_ssim_median": statistics.median(uncovered) if uncovered else float("nan"),
        "background_outside_covers_ssim_min": min(uncovered, default=float("nan")),
        "threshold": threshold,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clips", nargs="+", default=CLIPS)
    parser.add_argument("--step", type=int, default=5)
    parser.add_argument("--faces", default="blur", help="the face style to measure")
    parser.add_argument(
        "--list", action="store_true", help="print every face at or above the threshold after covering"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.clips:
            result = measure(SHARED / "media" / "video" / name, Path(tmp), args.step, args.faces, args.list)
            print(
                name,
                " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()),
            )


if __name__ == "__main__":
    main()
