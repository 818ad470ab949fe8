"""Streaming, atomic writer of `<stem>_tracking.json`.

Frames are appended to a hidden temporary file as they are stitched (one JSON object per line),
so memory does not grow with the video's length. `commit()` writes the final file, metadata
first (it is only known at the end), copying the frames across in blocks, then renames it over
the target: a reader, or a re-run after a crash, sees either no file or a complete one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

from vigil.batch.output import FrameEntry, TrackingMetadata

_BLOCK = 1 << 20


class TrackingWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._frames_path = self._temp(".frames")
        self._frames: IO[str] | None = self._frames_path.open("w", encoding="utf-8")
        self.frames_written = 0

    def _temp(self, suffix: str) -> Path:
        # Hidden, next to the target (same filesystem, so the final rename is atomic).
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=suffix)
        os.close(fd)
        return Path(name)

    def write_frame(self, entry: FrameEntry) -> None:
        if self._frames is None:
            raise RuntimeError("writer already closed")
        if self.frames_written:
            self._frames.write(",\n")
        # Compact, one line per frame. No NaN can reach here: the models refuse it when built.
        self._frames.write(entry.model_dump_json())
        self.frames_written += 1

    def commit(self, metadata: TrackingMetadata) -> Path:
        """Write metadata + frames to the target atomically; returns the target path."""
        if self._frames is None:
            raise RuntimeError("writer already closed")
        self._frames.close()
        self._frames = None
        final = self._temp(".tmp")
        try:
            with final.open("w", encoding="utf-8") as out, self._frames_path.open(encoding="utf-8") as frames:
                out.write('{"metadata": ')
                # Python's json, as before: pydantic's would write a non-ASCII video path unescaped.
                out.write(json.dumps(metadata.model_dump(mode="json"), indent=2, allow_nan=False))
                out.write(',\n"frames": [\n')
                shutil.copyfileobj(frames, out, _BLOCK)
                out.write("\n]}\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(final, self.path)
        except BaseException:
            final.unlink(missing_ok=True)
            raise
        finally:
            self._frames_path.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far (failed or cancelled video); the target is untouched."""
        if self._frames is not None:
            self._frames.close()
            self._frames = None
        self._frames_path.unlink(missing_ok=True)

    def __enter__(self) -> TrackingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._frames is not None:
            self.abort()
