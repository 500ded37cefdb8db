"""The sentence model as an ONNX graph, built from its safetensors weights without PyTorch.

The graph reproduces what sentence-transformers computes for all-MiniLM-L6-v2, in float32:
embeddings (word + token type 0 + absolute position) and LayerNorm; per layer, self-attention
with the padding mask added as the most negative float32 before the softmax, then a GELU (erf)
feed-forward block, each followed by a residual LayerNorm; then the mean of the last hidden
states over the attention mask, divided by its L2 norm (both clamped as sentence-transformers
clamps them). Inputs ``input_ids`` and ``attention_mask`` are int64 ``[batch, tokens]``; the
output ``embedding`` is float32 ``[batch, hidden]``.

Weights never enter the graph: every weight is an external initializer that onnxruntime takes
as a numpy view of the safetensors file (no copy, and a graph of ~20 KB built in milliseconds).
Linear layers are ``Gemm`` with ``transB=1`` over the tokens flattened to ``[batch*tokens,
hidden]``, so torch's ``[out, in]`` weights are used as stored, never transposed into copies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pdsearch.semantic.onnx_proto import (
    FLOAT,
    INT64,
    AttrValue,
    Node,
    ValueInfo,
    external_tensor,
    inline_tensor,
    model_bytes,
)
from pdsearch.semantic.weights import ModelConfig

OPSET = 17  # LayerNormalization arrived in opset 17; onnxruntime has run it since 1.14
IR_VERSION = 8  # the IR of opset 17: an onnxruntime refuses IR versions newer than it knows


@dataclass(frozen=True)
class Graph:
    """A serialised ONNX model and the weights onnxruntime must be given for it, by name."""

    model: bytes
    external: dict[str, npt.NDArray[Any]]


@dataclass
class _Builder:
    weights: Mapping[str, npt.NDArray[Any]]
    nodes: list[Node] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    external: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    count: int = 0

    def weight(self, name: str, array: npt.NDArray[Any] | None = None) -> str:
        """A tensor of the model's file, passed to onnxruntime as it is."""
        value = self.weights[name] if array is None else array
        self.external[name] = value
        self.initializers.append(external_tensor(name, value))
        return name

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        """A small constant of the recipe (a scale, a shape), stored in the graph."""
        self.initializers.append(inline_tensor(name, value))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: AttrValue) -> str:
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(Node(op_type, tuple(inputs), (out,), attrs))
        return out

    def linear(self, x: str, prefix: str) -> str:
        return self.op("Gemm", x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias"),
                       transB=1)

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        return self.op("LayerNormalization", x, self.weight(f"{prefix}.weight"),
                       self.weight(f"{prefix}.bias"), axis=-1, epsilon=eps)


def _i64(*values: int) -> npt.NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _f32(value: float) -> npt.NDArray[np.float32]:
    return np.array(value, dtype=np.float32)


def build_graph(weights: Mapping[str, npt.NDArray[Any]], config: ModelConfig) -> Graph:
    """The encoder, pooling and normalisation for ``config``, over ``weights`` (by torch name)."""
    g = _Builder(weights)
    heads, hidden = config.num_heads, config.hidden_size
    head_size = hidden // heads
    eps = config.layer_norm_eps

    batch_tokens = g.op("Shape", "input_ids")
    tokens = g.op("Slice", batch_tokens, g.const("one", _i64(1)), g.const("two", _i64(2)),
                  g.const("zero", _i64(0)))
    as_heads = g.op("Concat", batch_tokens, g.const("heads", _i64(heads, head_size)), axis=0)
    as_tokens = g.op("Concat", batch_tokens, g.const("hidden", _i64(hidden)), axis=0)
    flat = g.const("flat", _i64(-1, hidden))

    # Embeddings, summed in BERT's order: word + token type (always type 0), then + position.
    word = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids", axis=0)
    type0 = g.weight("token_type_embedding_0",
                     weights["embeddings.token_type_embeddings.weight"][0])
    positions = g.op("Slice", g.weight("embeddings.position_embeddings.weight"), "zero", tokens,
                     "zero")
    x = g.op("Add", g.op("Add", word, type0), positions)
    x = g.op("Reshape", g.layer_norm(x, "embeddings.LayerNorm", eps), flat)

    # Padding mask: 0 for a real token, the most negative float32 for padding, as
    # [batch, 1, 1, tokens] to broadcast over heads and query positions.
    mask = g.op("Cast", "attention_mask", to=FLOAT)
    padding = g.op("Sub", g.const("one_f", _f32(1.0)), mask)
    bias = g.op("Mul", padding, g.const("lowest", _f32(float(np.finfo(np.float32).min))))
    bias = g.op("Unsqueeze", bias, g.const("axes_1_2", _i64(1, 2)))
    scale = g.const("scale", _f32(1.0 / math.sqrt(head_size)))
    sqrt_half, half = g.const("sqrt_half", _f32(1.0 / math.sqrt(2.0))), g.const("half", _f32(0.5))

    for i in range(config.num_layers):
        p = f"encoder.layer.{i}"
        q, k, v = (g.op("Transpose", g.op("Reshape", g.linear(x, f"{p}.attention.self.{name}"),
                                          as_heads), perm=perm)
                   for name, perm in (("query", (0, 2, 1, 3)), ("key", (0, 2, 3, 1)),
                                      ("value", (0, 2, 1, 3))))
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=(0, 2, 1, 3)), flat)
        attended = g.linear(context, f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", attended, x), f"{p}.attention.output.LayerNorm", eps)
        inner = g.linear(x, f"{p}.intermediate.dense")
        # GELU as BERT defines it: 0.5 * x * (1 + erf(x / sqrt(2))).
        gelu = g.op("Mul", g.op("Mul", inner, half),
                    g.op("Add", g.op("Erf", g.op("Mul", inner, sqrt_half)), "one_f"))
        out = g.linear(gelu, f"{p}.output.dense")
        x = g.layer_norm(g.op("Add", out, x), f"{p}.output.LayerNorm", eps)

    # Mean over the real tokens (count clamped to 1e-9), then divided by the L2 norm (clamped
    # to 1e-12), as sentence-transformers' Pooling and Normalize modules do.
    x = g.op("Reshape", x, as_tokens)
    mask3 = g.op("Unsqueeze", mask, g.const("axis_2", _i64(2)))
    summed = g.op("ReduceSum", g.op("Mul", x, mask3), "one", keepdims=0)
    counts = g.op("Max", g.op("ReduceSum", mask3, "one", keepdims=0),
                  g.const("min_count", _f32(1e-9)))
    mean = g.op("Div", summed, counts)
    norm = g.op("Max", g.op("ReduceL2", mean, axes=(1,), keepdims=1),
                g.const("min_norm", _f32(1e-12)))
    g.nodes.append(Node("Div", (mean, norm), ("embedding",)))

    model = model_bytes(
        name="sentence_embedding", nodes=g.nodes, initializers=g.initializers,
        inputs=[ValueInfo("input_ids", INT64, ("batch", "tokens")),
                ValueInfo("attention_mask", INT64, ("batch", "tokens"))],
        outputs=[ValueInfo("embedding", FLOAT, ("batch", hidden))],
        ir_version=IR_VERSION, opset=OPSET, producer="pdsearch",
    )
    return Graph(model, g.external)
