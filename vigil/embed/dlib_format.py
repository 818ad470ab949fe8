"""Read the layers of dlib's face-descriptor network from its own serialization (the `.dat` file).

dlib writes a network outermost layer first, each `add_layer` holding its sub-network before its
own settings, so the stream opens with the nesting (one version number per layer) and then lists
each layer's settings from the input upwards. Integers are a length byte (bit 7: negative) and
that many little-endian bytes; floats a (mantissa, exponent) integer pair; tensors a header and
raw little-endian float32s. Tag and skip layers are bare version numbers: the converter infers
them from the ResNet's structure (see `dlib_export`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.errors import ModelError
from vigil.types import FloatArray

# add_layer's version numbers: over another layer, and directly over the input layer.
_LAYER, _LAYER_OVER_INPUT, _TAG_OR_SKIP = 2, 3, 1


@dataclass(frozen=True)
class InputRgb:
    mean_rgb: tuple[float, float, float]
    size: tuple[int, int]


@dataclass(frozen=True)
class Conv:
    weights: FloatArray  # (out, in, rows, cols), cross-correlation like ONNX Conv
    bias: FloatArray
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """A frozen batch norm: x * gamma + beta per channel."""

    gamma: FloatArray
    beta: FloatArray


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    window: tuple[int, int]  # (0, 0): the whole image
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    """Adds the tagged output; shapes may differ, the sum takes the larger and zero-fills."""


@dataclass(frozen=True)
class Marker:
    """A tag or skip layer (the stream does not say which)."""


@dataclass(frozen=True)
class FcNoBias:
    weights: FloatArray  # (inputs, outputs): y = x @ weights


Layer = Conv | Affine | Relu | Pool | AddPrev | Marker | FcNoBias


@dataclass(frozen=True)
class DlibNetwork:
    loss: str
    input: InputRgb
    layers: list[Layer]  # from the input upwards


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0

    def integer(self) -> int:
        head = self._byte()
        size = head & 0x0F
        value = int.from_bytes(self._take(size), "little")
        return -value if head & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa * 2.0**exponent)

    def text(self) -> str:
        return self._take(self.integer()).decode("ascii")

    def flag(self) -> bool:
        return self._byte() == ord("1")

    def tensor(self) -> FloatArray:
        self._expect(self.integer(), 2, "tensor version")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        array = np.frombuffer(self._take(4 * count), dtype="<f4")
        return array.astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        """An alias_tensor: the shape of a view into the layer's parameter tensor."""
        self._expect(self.integer(), 1, "alias_tensor version")
        n, k, rows, cols = (self.integer() for _ in range(4))
        return n, k, rows, cols

    def at_end(self) -> bool:
        return self.pos == len(self._data)

    def _byte(self) -> int:
        return self._take(1)[0]

    def _take(self, size: int) -> bytes:
        if self.pos + size > len(self._data):
            raise ModelError("dlib model file ends early")
        chunk = self._data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    @staticmethod
    def _expect(found: object, wanted: object, what: str) -> None:
        if found != wanted:
            raise ModelError(f"dlib model file: {what} is {found!r}, expected {wanted!r}")


def _conv(reader: _Reader) -> Conv:
    params = reader.tensor().reshape(-1)
    _filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(7))
    weight_shape = reader.alias()
    bias_shape = reader.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers: training only
        reader.real()
    size = int(np.prod(weight_shape))
    weights = params[:size].reshape(weight_shape)
    if weights.shape[2:] != (rows, cols):
        raise ModelError(f"dlib conv: filter shape {weights.shape} does not match {rows}x{cols}")
    return Conv(weights, params[size : size + int(np.prod(bias_shape))], (stride_y, stride_x), (pad_y, pad_x))


def _affine(reader: _Reader) -> Affine:
    params = reader.tensor().reshape(-1)
    gamma = int(np.prod(reader.alias()))
    beta = int(np.prod(reader.alias()))
    if reader.integer() != 0:
        raise ModelError("dlib affine layer in fully-connected mode is not supported")
    return Affine(params[:gamma], params[gamma : gamma + beta])


def _pool(reader: _Reader, kind: str) -> Pool:
    rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(6))
    return Pool(kind, (rows, cols), (stride_y, stride_x), (pad_y, pad_x))


def _fc(reader: _Reader) -> FcNoBias:
    outputs, inputs = reader.integer(), reader.integer()
    params = reader.tensor().reshape(-1)
    reader.alias()
    has_no_bias = reader.alias() == (0, 0, 0, 0)
    if reader.integer() != 1 or not has_no_bias:
        raise ModelError("dlib fc layer with a bias is not supported")
    for _ in range(4):
        reader.real()
    return FcNoBias(params[: inputs * outputs].reshape(inputs, outputs))


def _details(reader: _Reader) -> Layer:
    name = reader.text()
    if name == "con_4":
        return _conv(reader)
    if name == "affine_":
        return _affine(reader)
    if name == "relu_":
        return Relu()
    if name == "max_pool_2":
        return _pool(reader, "max")
    if name == "avg_pool_2":
        return _pool(reader, "avg")
    if name == "add_prev_":
        return AddPrev()
    if name == "fc_2":
        return _fc(reader)
    raise ModelError(f"dlib layer {name!r} is not supported by the converter")


def _input(reader: _Reader) -> InputRgb:
    name = reader.text()
    if name != "input_rgb_image_sized":
        raise ModelError(f"dlib input layer {name!r} is not supported")
    mean = (reader.real(), reader.real(), reader.real())
    return InputRgb(mean, (reader.integer(), reader.integer()))


def _skip_training_state(reader: _Reader, version: int) -> None:
    """add_layer's flags and gradient buffers after its settings (empty in a saved model)."""
    for _ in range(3):
        reader.flag()
    for _ in range(3):
        reader.tensor()
    if version == _LAYER_OVER_INPUT:
        reader.integer()  # sample expansion factor


def parse_dlib_network(data: bytes) -> DlibNetwork:
    """The layers of a serialized `loss_metric` network (dlib_face_recognition_resnet_model_v1)."""
    reader = _Reader(data)
    if reader.integer() != 1:
        raise ModelError("dlib model file: unknown loss layer version")
    loss = reader.text()
    if loss != "loss_metric_2":
        raise ModelError(f"dlib model file: loss {loss!r}, expected loss_metric_2")
    reader.real(), reader.real()  # margin and distance threshold: training only
    nesting: list[int] = []
    while not nesting or nesting[-1] != _LAYER_OVER_INPUT:
        version = reader.integer()
        if version not in (_LAYER, _LAYER_OVER_INPUT, _TAG_OR_SKIP):
            raise ModelError(f"dlib model file: unknown layer version {version}")
        nesting.append(version)
    network_input = _input(reader)
    layers: list[Layer] = []
    for version in reversed(nesting):
        if version == _TAG_OR_SKIP:
            layers.append(Marker())
            continue
        layers.append(_details(reader))
        _skip_training_state(reader, version)
    if not reader.at_end():
        raise ModelError("dlib model file: unexpected data after the network")
    return DlibNetwork(loss, network_input, layers)


def read_dlib_network(path: Path) -> DlibNetwork:
    return parse_dlib_network(path.read_bytes())
