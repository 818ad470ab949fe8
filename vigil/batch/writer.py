"""Streaming, atomic writer of `<stem>_tracking.json`.

Frames are appended to a hidden temporary file as they are stitched (one JSON object per line),
so memory does not grow with the video's length. `commit()` writes the final file, metadata
first (it is only known at the end), copying the frames across in blocks, then renames it over
the target: a reader, or a re-run after a crash, sees either no file or a complete one.

A killed run (kill -9, power loss) leaves its hidden temporaries behind; the next writer of the
same target deletes them when it starts. A writer holds an exclusive `flock` on each of its
temporaries while it uses them, so only abandoned ones are deleted, never those of a writer
still running in another process.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import IO

from vigil.batch.output import FrameEntry, TrackingMetadata
from vigil.output_files import output_temporary
from vigil.output_files import remove_stale_temporaries as remove_output_temporaries

_BLOCK = 1 << 20
_SUFFIXES = (".frames", ".tmp")
log = logging.getLogger(__name__)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete the temporaries a killed writer of `target` left beside it (not those a live
    writer holds locked); returns what was deleted."""
    return remove_output_temporaries(target, _SUFFIXES)


class TrackingWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        self._frames_path, frames = self._temp(".frames")
        self._frames: IO[str] | None = frames
        self.frames_written = 0

    def _temp(self, suffix: str) -> tuple[Path, IO[str]]:
        """A new hidden temporary next to the target (same filesystem, so the final rename is
        atomic), open for writing and locked: ours until closed, never taken for a stale one."""
        fd, path = output_temporary(self.path, suffix)  # locked
        return path, os.fdopen(fd, "w", encoding="utf-8")

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
        frames_out = self._frames
        if frames_out is None:
            raise RuntimeError("writer already closed")
        self._frames = None
        final, out = self._temp(".tmp")
        try:
            frames_out.flush()  # still open: its lock keeps the frames file ours while copying
            with out, self._frames_path.open(encoding="utf-8") as frames:
                out.write('{"metadata": ')
                # Python's json, as before: pydantic's would write a non-ASCII video path unescaped.
                out.write(json.dumps(metadata.model_dump(mode="json"), indent=2, allow_nan=False))
                out.write(',\n"frames": [\n')
                shutil.copyfileobj(frames, out, _BLOCK)
                out.write("\n]}\n")
                out.flush()
                os.fsync(out.fileno())
                os.replace(final, self.path)  # while still locked: never taken for a stale one
        except BaseException:
            final.unlink(missing_ok=True)
            raise
        finally:
            frames_out.close()
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
