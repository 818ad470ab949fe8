"""Export dlib's face-descriptor ResNet to ONNX, from the `.dat` that pip installed (offline).

Same weights, same arithmetic: onnxruntime then computes the descriptor several times faster
than dlib-bin's BLAS-less build. Each frozen batch norm (`affine`) is folded into the conv
under it. The export checks itself against dlib on a fixed image and refuses to write a file
whose descriptor differs.

    python -m vigil.embed.dlib_export [OUT.onnx]     # default: the per-user models dir
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.embed.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibNetwork,
    FcNoBias,
    Layer,
    Marker,
    Pool,
    Relu,
    read_dlib_network,
)
from vigil.errors import ModelError
from vigil.paths import user_models_dir
from vigil.types import FloatArray

if TYPE_CHECKING:
    from onnx import NodeProto, TensorProto

DLIB_ONNX_FILENAME = "dlib_face_recognition_resnet_model_v1.onnx"
INPUT_NAME = "chip"  # uint8 (N, 150, 150, 3) RGB face chips, as dlib.get_face_chip returns them
OUTPUT_NAME = "descriptor"  # float32 (N, 128), dlib's raw (unnormalised) descriptor
OPSET = 17
SELF_CHECK_COSINE = 0.9999


def dlib_model_path() -> Path:
    import face_recognition_models  # the wheel that ships dlib's weights

    return Path(face_recognition_models.face_recognition_model_location())


def default_onnx_path() -> Path:
    return user_models_dir() / DLIB_ONNX_FILENAME


@dataclass
class _Graph:
    """ONNX nodes and weights under construction, with each value's (channels, rows, cols)."""

    nodes: list[NodeProto] = field(default_factory=list)
    weights: list[TensorProto] = field(default_factory=list)
    shapes: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def constant(self, name: str, array: FloatArray | np.ndarray) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs: Any) -> str:
        from onnx import helper

        output = f"{op.lower()}{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        self.shapes[output] = shape
        return output


def _out_size(size: int, window: int, stride: int, pad: int) -> int:
    span = size + 2 * pad - window
    if span < 0:
        raise ModelError(f"dlib layer window {window} is larger than its input {size}")
    return 1 + span // stride


def _conv(graph: _Graph, x: str, conv: Conv, affine: Affine) -> str:
    """The conv with the affine layer above it folded in: (w*x + b)*g + beta."""
    weights = conv.weights * affine.gamma[:, None, None, None]
    bias = conv.bias * affine.gamma + affine.beta
    n = len(graph.nodes)
    _, rows, cols = graph.shapes[x]
    kernel = conv.weights.shape[2:]
    shape = (
        int(conv.weights.shape[0]),
        _out_size(rows, kernel[0], conv.stride[0], conv.padding[0]),
        _out_size(cols, kernel[1], conv.stride[1], conv.padding[1]),
    )
    return graph.node(
        "Conv",
        [x, graph.constant(f"w{n}", weights), graph.constant(f"b{n}", bias)],
        shape,
        kernel_shape=list(kernel),
        strides=list(conv.stride),
        pads=[conv.padding[0], conv.padding[1], conv.padding[0], conv.padding[1]],
    )


def _pool(graph: _Graph, x: str, pool: Pool) -> str:
    channels, rows, cols = graph.shapes[x]
    if pool.window == (0, 0):
        if pool.kind != "avg":
            raise ModelError("dlib global max pooling is not supported")
        return graph.node("GlobalAveragePool", [x], (channels, 1, 1))
    shape = (
        channels,
        _out_size(rows, pool.window[0], pool.stride[0], pool.padding[0]),
        _out_size(cols, pool.window[1], pool.stride[1], pool.padding[1]),
    )
    op = "MaxPool" if pool.kind == "max" else "AveragePool"
    pads = [pool.padding[0], pool.padding[1], pool.padding[0], pool.padding[1]]
    return graph.node(op, [x], shape, kernel_shape=list(pool.window), strides=list(pool.stride), pads=pads)


def _zero_fill(graph: _Graph, x: str, shape: tuple[int, int, int]) -> str:
    """`x` grown to `shape` with zeros after its channels, rows and columns (dlib's add)."""
    have = graph.shapes[x]
    if have == shape:
        return x
    extra = [0, shape[0] - have[0], shape[1] - have[1], shape[2] - have[2]]
    pads = graph.constant(f"pads{len(graph.nodes)}", np.array([0, 0, 0, 0, *extra], np.int64))
    return graph.node("Pad", [x, pads], shape)


def _add(graph: _Graph, x: str, tagged: str) -> str:
    shape = tuple(max(a, b) for a, b in zip(graph.shapes[x], graph.shapes[tagged], strict=True))
    full = (shape[0], shape[1], shape[2])
    return graph.node("Add", [_zero_fill(graph, x, full), _zero_fill(graph, tagged, full)], full)


def _normalised_input(graph: _Graph, network: DlibNetwork) -> str:
    """dlib's input_rgb_image: (pixel - mean) / 256 per channel, RGB planes."""
    rows, cols = network.input.size
    as_float = graph.node("Cast", [INPUT_NAME], (3, rows, cols), to=1)  # 1: FLOAT
    planes = graph.node("Transpose", [as_float], (3, rows, cols), perm=[0, 3, 1, 2])
    mean = graph.constant("mean_rgb", np.array(network.input.mean_rgb, np.float32).reshape(1, 3, 1, 1))
    centred = graph.node("Sub", [planes, mean], (3, rows, cols))
    scale = graph.constant("inv_256", np.array(1.0 / 256.0, np.float32))
    return graph.node("Mul", [centred, scale], (3, rows, cols))


def _residual_layers(graph: _Graph, x: str, layers: list[Layer]) -> str:
    """Walks the layers upwards. Markers come alone (tag1: a residual unit's input) or in pairs
    (tag2 on the unit's output, then skip1 back to its input, which the downsampling units
    average-pool); add_prev then adds tag2 after a pair, else tag1."""
    tags: dict[int, str] = {}
    index, last_group = 0, 0
    while index < len(layers):
        layer = layers[index]
        if isinstance(layer, Marker):
            group = 1
            while index + group < len(layers) and isinstance(layers[index + group], Marker):
                group += 1
            if group == 1:
                tags[1] = x
            elif group == 2:
                tags[2], x = x, tags[1]
            else:
                raise ModelError(f"dlib network: {group} tag/skip layers in a row are not supported")
            index, last_group = index + group, group
            continue
        if isinstance(layer, Conv):
            following = layers[index + 1] if index + 1 < len(layers) else None
            if not isinstance(following, Affine):
                raise ModelError("dlib network: a conv without an affine layer above is not supported")
            x, index = _conv(graph, x, layer, following), index + 2
            continue
        if isinstance(layer, AddPrev):
            x = _add(graph, x, tags[2 if last_group == 2 else 1])
        else:
            x = _simple_layer(graph, x, layer)
        index += 1
    return x


def _simple_layer(graph: _Graph, x: str, layer: Layer) -> str:
    if isinstance(layer, Relu):
        return graph.node("Relu", [x], graph.shapes[x])
    if isinstance(layer, Pool):
        return _pool(graph, x, layer)
    if isinstance(layer, FcNoBias):
        flat = graph.node("Flatten", [x], graph.shapes[x])
        weights = graph.constant(f"fc{len(graph.nodes)}", layer.weights)
        return graph.node("MatMul", [flat, weights], (int(layer.weights.shape[1]), 1, 1))
    raise ModelError(f"dlib network: unexpected {type(layer).__name__} layer")


def build_onnx(network: DlibNetwork) -> bytes:
    """The network as a serialized ONNX model (batch dimension free)."""
    from onnx import TensorProto, checker, helper

    graph = _Graph()
    x = _residual_layers(graph, _normalised_input(graph, network), network.layers)
    graph.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME]))
    rows, cols = network.input.size
    dims = graph.shapes[x][0]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "dlib_face_recognition_resnet_model_v1",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", rows, cols, 3])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", dims])],
            initializer=graph.weights,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="vigil.embed.dlib_export",
    )
    model.ir_version = 8  # readable by every onnxruntime the project allows
    checker.check_model(model)
    return bytes(model.SerializeToString())


def self_check(onnx_bytes: bytes) -> float:
    """Cosine between dlib's and the ONNX model's descriptor of a fixed 150x150 chip; raises
    ModelError below SELF_CHECK_COSINE."""
    import dlib
    import onnxruntime as ort

    chip = np.random.default_rng(150).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    reference = np.asarray(
        dlib.face_recognition_model_v1(str(dlib_model_path())).compute_face_descriptor(chip)
    )
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    exported = np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: chip[None]})[0]).reshape(-1)
    cosine = float(reference @ exported / (np.linalg.norm(reference) * np.linalg.norm(exported)))
    if not cosine >= SELF_CHECK_COSINE:
        raise ModelError(f"exported dlib network differs from dlib (cosine {cosine:.6f})")
    return cosine


def export(target: Path, source: Path | None = None) -> float:
    """Convert, check against dlib, then write `target` atomically; returns the check's cosine."""
    onnx_bytes = build_onnx(read_dlib_network(source or dlib_model_path()))
    cosine = self_check(onnx_bytes)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(onnx_bytes)
        Path(tmp_name).replace(target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return cosine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", nargs="?", type=Path, default=None, help=f"default: {default_onnx_path()}")
    target = parser.parse_args(argv).out or default_onnx_path()
    try:
        cosine = export(target)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{target} written; matches dlib's descriptor (cosine {cosine:.6f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
