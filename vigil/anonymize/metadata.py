"""Container metadata of anonymised files: what is kept, what is removed and listed.

Phones and cameras write who, where and when into a file's tags (location / ISO 6709 GPS,
make, model, software, creation_time, the camera's encoder name, handler names like "Core Media
Video"). By default none of them is copied: only a stream's `language` is kept. The muxer's own
structural tags (brands) are rewritten by it anyway and are not listed; everything else that was
in the input and is not copied is listed (key and where it was, never its value)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

KEPT_STREAM_KEYS = frozenset({"language"})
# Written by the MP4/MOV muxer from its own settings, not copied from the input.
MUXER_KEYS = frozenset({"major_brand", "minor_version", "compatible_brands"})


class RemovedTag(BaseModel):
    """A metadata key of the input that the output does not have."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Literal["container", "stream"]
    stream: int | None = None  # the input stream's index, for scope "stream"
    stream_type: str | None = None  # video, audio, ...
    key: str


def kept_container_tags(tags: Mapping[str, str], strip: bool) -> dict[str, str]:
    """The container tags to write: none when stripping, else all but the muxer's own."""
    return {} if strip else {k: v for k, v in tags.items() if k not in MUXER_KEYS}


def kept_stream_tags(tags: Mapping[str, str], strip: bool) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not strip or k in KEPT_STREAM_KEYS}


def removed_tags(
    container: Mapping[str, str], streams: Sequence[tuple[int, str, Mapping[str, str]]], strip: bool
) -> list[RemovedTag]:
    """What stripping removes: container keys (but the muxer's own), and stream keys but the kept
    ones, for the streams the output carries (index, type, tags)."""
    if not strip:
        return []
    removed = [RemovedTag(scope="container", key=key) for key in sorted(container) if key not in MUXER_KEYS]
    for index, kind, tags in streams:
        removed.extend(
            RemovedTag(scope="stream", stream=index, stream_type=kind, key=key)
            for key in sorted(tags)
            if key not in KEPT_STREAM_KEYS
        )
    return removed
