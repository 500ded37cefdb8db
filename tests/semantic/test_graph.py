"""The ONNX model pdsearch writes without the ``onnx`` package is one ``onnx`` reads back
unchanged, passes its full checker, and computes the same as the weights inlined."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import numpy_helper

from pdsearch.semantic.graph import IR_VERSION, OPSET, Graph, build_graph
from pdsearch.semantic.weights import map_weights, package_model_dir, read_config


@pytest.fixture(scope="module")
def graph() -> Graph:
    model_dir = package_model_dir()
    _, weights = map_weights(model_dir)
    return build_graph(weights, read_config(model_dir))


def _inlined(graph: Graph) -> onnx.ModelProto:
    model = onnx.load_from_string(graph.model)
    for tensor in model.graph.initializer:
        if tensor.name in graph.external:
            tensor.CopyFrom(numpy_helper.from_array(np.array(graph.external[tensor.name]),
                                                    tensor.name))
    return model


def test_onnx_reads_back_exactly_what_was_written(graph: Graph) -> None:
    model = onnx.load_from_string(graph.model)
    assert model.SerializeToString() == graph.model  # nothing lost, nothing unknown
    assert model.ir_version == IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in model.graph.output] == ["embedding"]
    external = {t.name for t in model.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL}
    assert external == set(graph.external)
    assert len(graph.model) < 100_000  # the weights are not in it


def test_the_graph_passes_onnx_full_check(graph: Graph) -> None:
    onnx.checker.check_model(_inlined(graph), full_check=True)


def test_external_and_inlined_weights_compute_the_same(graph: Graph) -> None:
    ids = np.array([[101, 7592, 2088, 102, 0], [101, 2023, 2003, 1037, 102]], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    inline = onnxruntime.InferenceSession(_inlined(graph).SerializeToString(),
                                          providers=["CPUExecutionProvider"])
    options = onnxruntime.SessionOptions()
    names = list(graph.external)
    values: list[Any] = [onnxruntime.OrtValue.ortvalue_from_numpy(graph.external[n])
                         for n in names]
    options.add_external_initializers(names, values)
    external = onnxruntime.InferenceSession(graph.model, options,
                                            providers=["CPUExecutionProvider"])
    a = inline.run(None, feeds)[0]
    b = external.run(None, feeds)[0]
    assert a.shape == (2, 384)
    assert np.array_equal(a, b)
