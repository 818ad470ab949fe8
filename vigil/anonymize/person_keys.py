"""Clothes colours that hold across a file's chunks for people whose face is not found (issue 17).

Every chunk is rendered from a fresh persons state (render.py: the same pixels in any worker),
and a person without a face track gets a key of the chunk's own (-1, -2, ... in the order its
tracker meets them): alone, the colour of a faceless person would change at every chunk
boundary. So, before rendering, each chunk's people are followed (`follow_chunk`: segmentation
and the blob tracker only, no hands, skin or paint) on the same frames with the same faces,
which gives the same chunk keys the render will find. Each chunk reports the tracks kept at
its last frame and those started in its first frames; `file_keys` joins them across every
boundary as one tracker running through the whole file would have (box overlap, within its
missed-frame allowance, never two different face tracks), and gives each chunk a map from its
keys to file-wide ones: a joined track takes the face track id found along it, else a negative
key of its own, so different faceless people keep different keys."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vigil.anonymize.render import ChunkTask, RgbScaler, chunk_frames
from vigil.anonymize.segment import PersonBlob, TrackEnd, TrackStart, iou
from vigil.anonymize.styles import FaceRegion
from vigil.batch.video import VideoInfo
from vigil.types import Image, IntArray

__all__ = ["ChunkPeople", "FollowedBlobs", "PeopleFollower", "blobs_path", "file_keys", "follow_chunk"]

log = logging.getLogger(__name__)

Node = tuple[int, int]  # (chunk index, the chunk's key)


@dataclass(frozen=True)
class ChunkPeople:
    """A chunk's people as its tracker saw them (work-resolution boxes)."""

    first: int  # the chunk's first frame (1-based)
    negatives: int  # the chunk's faceless keys are -1 .. -negatives
    starts: tuple[TrackStart, ...]  # tracks started in its first frames
    ends: tuple[TrackEnd, ...]  # tracks kept at its last frame


class PeopleFollower(Protocol):
    """The persons pass, following people without painting (persons.PersonAnonymizer)."""

    def reset(self, keys: dict[int, int] | None = None) -> None: ...

    def follow(
        self,
        small: Image,
        frame_size: tuple[int, int],
        faces: Sequence[FaceRegion],
        person_ids: Sequence[int],
    ) -> list[PersonBlob]: ...

    def work_size(self, width: int, height: int) -> tuple[int, int]: ...

    def people(self, first: int) -> ChunkPeople: ...


def follow_chunk(
    task: ChunkTask, info: VideoInfo, follower: PeopleFollower, cancel: Any = None
) -> ChunkPeople:
    """Decodes the chunk's frames (`info`: the video's frame table) and follows its people (from
    a reset state, as the render does); their blobs are kept beside the chunk's segment
    (`FollowedBlobs`) for its rendering to use instead of segmenting again. Raises
    RenderCancelled when `cancel` (an Event) is set, InputError on a bad frame."""
    follower.reset()
    kept = _BlobWriter()
    to_small = RgbScaler()  # the segmenter's input straight from the decoded frame
    for _, frame, faces, tracks in chunk_frames(task, info, cancel):
        size = (frame.width, frame.height)
        kept.add(follower.follow(to_small(frame, follower.work_size(*size)), size, faces, tracks))
    kept.save(blobs_path(task))
    return follower.people(task.first)


def blobs_path(task: ChunkTask) -> Path:
    """Where a chunk's followed people are kept for its rendering: beside its segment."""
    return task.segment.with_name(f"{task.segment.stem}.people.npz")


class _BlobWriter:
    """A chunk's blobs, packed as they come (a blob's mask is its box's bits: a full work-size
    mask per blob would hold hundreds of MB for a 600-frame chunk)."""

    def __init__(self) -> None:
        self.per_frame: list[int] = []
        self.boxes: list[tuple[int, int, int, int]] = []
        self.face_counts: list[int] = []
        self.faces: list[int] = []
        self.bits: list[IntArray] = []
        self.shape = (0, 0)

    def add(self, blobs: Sequence[PersonBlob]) -> None:
        self.per_frame.append(len(blobs))
        for blob in blobs:
            x1, y1, x2, y2 = blob.box
            self.shape = (int(blob.mask.shape[0]), int(blob.mask.shape[1]))
            self.boxes.append(blob.box)
            self.face_counts.append(len(blob.faces))
            self.faces.extend(blob.faces)
            self.bits.append(np.packbits(blob.mask[y1:y2, x1:x2]))

    def save(self, path: Path) -> None:
        """Written under a temporary name and renamed; skipped where the folder is not on this
        node (a Ray worker elsewhere). A rendering without them must follow the chunk again:
        `apply` without blobs segments a resize of the full-size BGR frame, whose masks differ."""
        if not path.parent.is_dir():
            return
        temporary = path.with_name(f".{path.name}.{os.getpid()}.npz")
        try:
            np.savez_compressed(
                temporary,
                shape=np.array(self.shape, np.int32),
                per_frame=np.array(self.per_frame, np.int32),
                boxes=np.array(self.boxes, np.int32).reshape(-1, 4),
                face_counts=np.array(self.face_counts, np.int32),
                faces=np.array(self.faces, np.int32),
                bit_counts=np.array([len(b) for b in self.bits], np.int64),
                bits=np.concatenate(self.bits) if self.bits else np.zeros(0, np.uint8),
            )
            os.replace(temporary, path)
        except OSError as exc:
            log.debug("%s: followed people not kept (%s)", path, exc)
            temporary.unlink(missing_ok=True)


class FollowedBlobs:
    """A chunk's followed people, read back by its rendering: `frame(number)` gives the blobs
    `follow` found on that frame, unpacked one frame at a time."""

    def __init__(self, task: ChunkTask, data: dict[str, Any]) -> None:
        self.first = task.first
        self._shape = (int(data["shape"][0]), int(data["shape"][1]))
        per_frame = data["per_frame"]
        self._blob_start = np.concatenate([[0], np.cumsum(per_frame)]).astype(np.int64)
        self._boxes = data["boxes"]
        self._face_start = np.concatenate([[0], np.cumsum(data["face_counts"])]).astype(np.int64)
        self._faces = data["faces"]
        self._bit_start = np.concatenate([[0], np.cumsum(data["bit_counts"])]).astype(np.int64)
        self._bits = data["bits"]

    @classmethod
    def load(cls, task: ChunkTask) -> FollowedBlobs | None:
        """The chunk's followed people, or None when not kept here (or not for this chunk)."""
        path = blobs_path(task)
        try:
            with np.load(path) as archive:
                data = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, KeyError):
            return None
        if len(data.get("per_frame", ())) != task.last - task.first + 1:
            return None
        return cls(task, data)

    def frame(self, number: int) -> list[PersonBlob]:
        index = number - self.first
        blobs = []
        for b in range(int(self._blob_start[index]), int(self._blob_start[index + 1])):
            x1, y1, x2, y2 = (int(v) for v in self._boxes[b])
            bits = self._bits[int(self._bit_start[b]) : int(self._bit_start[b + 1])]
            mask = np.zeros(self._shape, bool)
            count = (y2 - y1) * (x2 - x1)
            mask[y1:y2, x1:x2] = np.unpackbits(bits, count=count).reshape(y2 - y1, x2 - x1).astype(bool)
            faces = [int(i) for i in self._faces[int(self._face_start[b]) : int(self._face_start[b + 1])]]
            blobs.append(PersonBlob(mask, (x1, y1, x2, y2), faces))
        return blobs


def file_keys(
    chunks: Sequence[ChunkPeople], min_iou: float = 0.2, max_missed: int = 15
) -> list[dict[int, int]]:
    """Per chunk, its faceless keys mapped to file-wide keys (the tracker's `min_iou` and
    `max_missed`, segment.BlobTracker)."""
    joined = _Joined()
    for index, (before, after) in enumerate(itertools.pairwise(chunks)):
        for end, start in _matches(before.ends, after.starts, min_iou, max_missed):
            joined.union((index, end.key), (index + 1, start.key))
    face_of: dict[Node, int] = {}  # a group's face track id: the earliest one along it
    for node in sorted(joined.nodes()):
        if node[1] >= 0:
            face_of.setdefault(joined.find(node), node[1])
    fresh: dict[Node, int] = {}
    maps: list[dict[int, int]] = []
    for index, chunk in enumerate(chunks):
        keys = {}
        for local in range(-1, -chunk.negatives - 1, -1):
            root = joined.find((index, local))
            face = face_of.get(root)
            keys[local] = face if face is not None else fresh.setdefault(root, -1 - len(fresh))
        maps.append(keys)
    return maps


def _matches(
    ends: Sequence[TrackEnd], starts: Sequence[TrackStart], min_iou: float, max_missed: int
) -> list[tuple[TrackEnd, TrackStart]]:
    """One-to-one, greedy by overlap: the tracks of a chunk's end continued by the next chunk's
    (a track missed for up to `max_missed` frames can still be continued)."""
    pairs = sorted(
        (
            (iou(end.box, start.box), e, s)
            for e, end in enumerate(ends)
            for s, start in enumerate(starts)
            if end.missed + start.offset <= max_missed and not _two_faces(end.key, start.key)
        ),
        key=lambda pair: (-pair[0], pair[1], pair[2]),
    )
    used_ends: set[int] = set()
    used_starts: set[int] = set()
    matched = []
    for overlap, e, s in pairs:
        if overlap < min_iou:
            break
        if e in used_ends or s in used_starts:
            continue
        used_ends.add(e)
        used_starts.add(s)
        matched.append((ends[e], starts[s]))
    return matched


def _two_faces(a: int, b: int) -> bool:
    """Two different face tracks: two people (the tracker never joins them either)."""
    return a >= 0 and b >= 0 and a != b


class _Joined:
    """Union-find over (chunk, key) nodes."""

    def __init__(self) -> None:
        self._parent: dict[Node, Node] = {}

    def find(self, node: Node) -> Node:
        root = node
        while (up := self._parent.get(root, root)) != root:
            root = up
        while node != root:  # path compression
            node, self._parent[node] = self._parent[node], root
        return root

    def union(self, a: Node, b: Node) -> None:
        first, second = sorted((self.find(a), self.find(b)))
        if first != second:
            self._parent[second] = first
        self._parent.setdefault(first, first)

    def nodes(self) -> list[Node]:
        return list(self._parent)
