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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.anonymize.render import ChunkTask, RenderCancelled
from vigil.anonymize.segment import TrackEnd, TrackStart, iou
from vigil.anonymize.styles import FaceRegion
from vigil.batch.video import FrameReader
from vigil.errors import InputError
from vigil.types import Image

__all__ = ["ChunkPeople", "PeopleFollower", "file_keys", "follow_chunk"]

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

    def follow(self, image: Image, faces: Sequence[FaceRegion], person_ids: Sequence[int]) -> None: ...

    def people(self, first: int) -> ChunkPeople: ...


def follow_chunk(task: ChunkTask, follower: PeopleFollower, cancel: Any = None) -> ChunkPeople:
    """Decodes the chunk's frames and follows its people (from a reset state, as the render
    does). Raises RenderCancelled when `cancel` (an Event) is set, InputError on a bad frame."""
    follower.reset()
    reader = FrameReader(task.info, task.first, task.last, threads=0)
    for number, frame in reader.frames():
        if cancel is not None and cancel.is_set():
            raise RenderCancelled
        if frame is None:
            raise InputError(f"{task.source}: frame {number} cannot be decoded (corrupt file?)")
        faces, tracks = task.faces[number - task.first]
        follower.follow(frame.to_ndarray(format="bgr24"), faces, tracks)
    return follower.people(task.first)


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
