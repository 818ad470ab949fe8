"""YuNet run by ONNX Runtime instead of OpenCV's DNN module: the same network and the same faces
for less than half the CPU (one thread, 640x360: 13.4 ms a frame through cv2.FaceDetectorYN,
~5.5 ms here; docs/benchmarks.md). Detection is most of the cost of batch tracking and of the
anonymiser's face pass, so this is where the time goes.

What OpenCV's FaceDetectorYN does around the network is done the same way here, so its results
are kept (tests/test_yunet_onnx.py compares both on real frames):
- the published graph declares a 640x640 input but all its reshapes are size-agnostic, so the
  input's height and width are made symbolic when the model is loaded (the file is not changed);
- the image is padded on the right and bottom to multiples of 32 and fed as BGR float32 0..255;
- each stride's anchors are decoded (score = sqrt(cls * obj), box centre and size, 5 landmarks)
  and overlapping boxes suppressed with cv2.dnn.NMSBoxes on integer boxes, best score first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.errors import ModelError
from vigil.types import FloatArray, Image

STRIDES = (8, 16, 32)
_DIVISOR = 32  # the largest stride: padded sizes are its multiples
_REWRITE_VERSION = "v1"  # in the cache's file name: a changed _rewritten() must not reuse old files


class YuNetOnnx:
    """cv2.FaceDetectorYN's `detect`, on ONNX Runtime: rows of (x, y, w, h, 10 landmark
    coordinates, score), best first."""

    def __init__(
        self, model_path: Path, score_threshold: float, nms_threshold: float, top_k: int, threads: int = 0
    ) -> None:
        """`threads` 0: OpenCV's thread setting, which the DNN backend followed (1 in the batch
        workers and by default in live pipelines, `runtime.opencv_threads`; every core in a
        one-process `vigil track --workers 1`)."""
        import onnxruntime as ort

        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        options = ort.SessionOptions()
        threads = threads or max(1, cv2.getNumThreads())
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if threads > 1:  # threads that spin between calls would take the cores from other work
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            try:
                graph = _any_size(model_path)
                self._session: Any = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            except Exception:  # a damaged cache is made again; a bad model fails again below
                graph = _any_size(model_path, fresh=True)
                self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnx and onnxruntime raise their own types for bad files
            raise ModelError(f"cannot load YuNet model {model_path} in ONNX Runtime: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self._outputs = [f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in STRIDES]
        missing = set(self._outputs) - {output.name for output in self._session.get_outputs()}
        if missing:
            raise ModelError(f"{model_path} is not a YuNet model: no output {', '.join(sorted(missing))}")

    def detect(self, image: Image) -> FloatArray:
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return np.empty((0, 15), np.float32)
        pad_h, pad_w = _padded(height), _padded(width)
        padded = cv2.copyMakeBorder(image, 0, pad_h - height, 0, pad_w - width, cv2.BORDER_CONSTANT, value=0)
        blob = cv2.dnn.blobFromImage(padded)  # NCHW float32, BGR, no scaling: as FaceDetectorYN
        outputs = self._session.run(self._outputs, {self._input: blob})
        count = len(STRIDES)
        rows = [
            _decode(
                stride,
                pad_w // stride,
                outputs[i],
                outputs[count + i],
                outputs[2 * count + i],
                outputs[3 * count + i],
                self.score_threshold,
            )
            for i, stride in enumerate(STRIDES)
        ]
        return self._suppressed(np.concatenate(rows))

    def _suppressed(self, faces: FloatArray) -> FloatArray:
        if len(faces) < 2:
            return faces
        boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in faces[:, :4].tolist()]
        keep = cv2.dnn.NMSBoxes(
            boxes, faces[:, 14].tolist(), self.score_threshold, self.nms_threshold, 1.0, self.top_k
        )
        return faces[np.asarray(keep, np.int64).reshape(-1)]


def _padded(size: int) -> int:
    return ((size - 1) // _DIVISOR + 1) * _DIVISOR


def _decode(
    stride: int,
    cols: int,
    cls: FloatArray,
    obj: FloatArray,
    bbox: FloatArray,
    kps: FloatArray,
    threshold: float,
) -> FloatArray:
    """One stride's anchors above `threshold` as face rows (float32 throughout, like OpenCV)."""
    score = np.sqrt(np.clip(cls.reshape(-1), 0, 1) * np.clip(obj.reshape(-1), 0, 1))
    index = np.flatnonzero(score >= threshold)
    if len(index) == 0:
        return np.empty((0, 15), np.float32)
    step = np.float32(stride)
    col = (index % cols).astype(np.float32)[:, None]
    row = (index // cols).astype(np.float32)[:, None]
    box = bbox.reshape(-1, 4)[index]
    centre = (np.hstack([col, row]) + box[:, :2]) * step
    size = np.exp(box[:, 2:]) * step
    anchor = np.stack([col, row], axis=2)  # (n, 1, 2), added to each of the 5 points
    points = (kps.reshape(-1, 10)[index].reshape(-1, 5, 2) + anchor) * step
    return np.hstack([centre - size / 2, size, points.reshape(-1, 10), score[index, None]]).astype(np.float32)


def _any_size(model_path: Path, fresh: bool = False) -> bytes:
    """The model with a symbolic input height and width, from the user's cache when an earlier
    process made it: making it needs the onnx package, whose import costs ~0.8 s of CPU (its
    ml_dtypes extension), paid by every worker of a batch otherwise. `fresh`: made again (and
    the cache replaced), as when the cached file could not be loaded."""
    original = model_path.read_bytes()
    folder = _cache_dir()
    cached = None
    if folder is not None:
        cached = (
            folder / f"yunet-{_REWRITE_VERSION}-{hashlib.sha256(original).hexdigest()[:16]}-any-size.onnx"
        )
    if cached is not None and not fresh:
        with contextlib.suppress(OSError):
            return cached.read_bytes()
    data = _rewritten(original)
    if cached is not None:
        _save(cached, data)
    return data


def _save(cached: Path, data: bytes) -> None:
    """Writes the cache whole or not at all; no cache then: the next process rewrites it again."""
    name = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(name, cached)  # whole or absent for a process reading at the same time
    except OSError:
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _cache_dir() -> Path | None:
    """The user's cache folder for Vigil, None when there is no home to put it in (an arbitrary
    uid in a container, no HOME): the graph is then rewritten in every process."""
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vigil"
    except (RuntimeError, KeyError, OSError):
        return None


def _rewritten(original: bytes) -> bytes:
    """The graph's input height and width made symbolic; the declared intermediate and output
    shapes dropped (they were computed for 640x640)."""
    import onnx

    model = onnx.load_from_string(original)
    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in graph.output:
        output.type.tensor_type.ClearField("shape")
    del graph.value_info[:]
    data: bytes = model.SerializeToString()
    return data
