"""Just enough of ONNX's protobuf encoding to write the sentence model's graph.

Why not the ``onnx`` package: importing it takes 1.0-1.3 s on the project's machines (its
``ml_dtypes`` dependency alone takes a second), half of the 2 s a model load may take, while the
graph is a few hundred nodes whose weights stay outside it (supplied to onnxruntime as external
initializers). The field numbers below are those of ``onnx/onnx.proto`` (ModelProto, GraphProto,
NodeProto, AttributeProto, TensorProto, ValueInfoProto...); the tests parse what this writes with
the ``onnx`` package, run its checker and compare a re-serialisation byte for byte.

Fields are written in field-number order and repeated scalars unpacked, as protobuf itself
writes ONNX's proto2 messages, so the bytes are canonical.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# TensorProto.DataType values.
FLOAT = 1
INT64 = 7
_ELEM_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}
# AttributeProto.AttributeType values.
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

AttrValue = int | float | Sequence[int]


@dataclass(frozen=True)
class Node:
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, AttrValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: a tensor of ``elem_type`` whose dims are sizes or names."""

    name: str
    elem_type: int
    dims: tuple[int | str, ...]


# --------------------------------------------------------------------------- wire format


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are written as their 64-bit two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bytes(number: int, value: bytes) -> bytes:
    return _key(number, 2) + _varint(len(value)) + value


def _str(number: int, value: str) -> bytes:
    return _bytes(number, value.encode("utf-8"))


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


def _many(number: int, messages: Iterable[bytes]) -> bytes:
    return b"".join(_bytes(number, m) for m in messages)


# --------------------------------------------------------------------------- messages


def _attribute(name: str, value: AttrValue) -> bytes:
    # AttributeProto: name = 1, f = 2, i = 3, ints = 8, type = 20.
    if isinstance(value, float):
        return _str(1, name) + _float(2, value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, int):
        return _str(1, name) + _int(3, value) + _int(20, _ATTR_INT)
    return _str(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)


def _node(node: Node) -> bytes:
    # NodeProto: input = 1, output = 2, op_type = 4, attribute = 5.
    return (b"".join(_str(1, i) for i in node.inputs)
            + b"".join(_str(2, o) for o in node.outputs)
            + _str(4, node.op_type)
            + _many(5, (_attribute(k, v) for k, v in sorted(node.attrs.items()))))


def elem_type(array: npt.NDArray[np.generic]) -> int:
    try:
        return _ELEM_TYPES[array.dtype]
    except KeyError:
        raise ValueError(f"no ONNX element type for {array.dtype}") from None


def inline_tensor(name: str, array: npt.NDArray[np.generic]) -> bytes:
    """A TensorProto holding its (small) data: dims = 1, data_type = 2, name = 8, raw = 9."""
    data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, elem_type(array))
            + _str(8, name) + _bytes(9, data.tobytes()))


def external_tensor(name: str, array: npt.NDArray[np.generic]) -> bytes:
    """A TensorProto whose data is supplied at session creation (``add_external_initializers``):
    dims, data_type, name, external_data = 13 (a placeholder location), data_location = 14."""
    location = _str(1, "location") + _str(2, "supplied-at-load")
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, elem_type(array))
            + _str(8, name) + _bytes(13, location) + _int(14, _EXTERNAL))


def _value_info(info: ValueInfo) -> bytes:
    # ValueInfoProto{name = 1, type = 2: TypeProto{tensor_type = 1: {elem_type = 1,
    # shape = 2: TensorShapeProto{dim = 1: {dim_value = 1 | dim_param = 2}}}}}.
    dims = _many(1, (_int(1, d) if isinstance(d, int) else _str(2, d) for d in info.dims))
    tensor_type = _int(1, info.elem_type) + _bytes(2, dims)
    return _str(1, info.name) + _bytes(2, _bytes(1, tensor_type))


def model_bytes(*, name: str, nodes: Sequence[Node], initializers: Sequence[bytes],
                inputs: Sequence[ValueInfo], outputs: Sequence[ValueInfo], ir_version: int,
                opset: int, producer: str) -> bytes:
    """A serialised ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8
    (default domain); GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12."""
    graph = (_many(1, (_node(n) for n in nodes)) + _str(2, name) + _many(5, initializers)
             + _many(11, (_value_info(i) for i in inputs))
             + _many(12, (_value_info(o) for o in outputs)))
    return (_int(1, ir_version) + _str(2, producer) + _bytes(7, graph)
            + _bytes(8, _str(1, "") + _int(2, opset)))
