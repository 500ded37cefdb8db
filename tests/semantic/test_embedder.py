"""The embedder equals sentence-transformers' all-MiniLM-L6-v2 (tests/data/semantic/), loads
once per process, keeps order, truncates as the model does (documents at their own, shorter cut)
and may be shared by threads."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pdsearch.semantic import TEXT_RECIPE, Embedder
from pdsearch.semantic.weights import EXPECTED_SHA256, package_model_dir

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "semantic" / "minilm-reference.json"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load()


def _expected(reference: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray(reference["embeddings"], dtype=np.float32)


def test_model_files_are_those_the_reference_was_computed_from(
        reference: dict[str, Any]) -> None:
    model_dir = package_model_dir()
    hashes: dict[str, str] = reference["model_files_sha256"]
    assert hashes, "the reference names no files"
    for name, digest in hashes.items():
        assert hashlib.sha256((model_dir / name).read_bytes()).hexdigest() == digest, name
    # What the embedder checks at load is the same as what the reference says.
    for name, digest in EXPECTED_SHA256.items():
        assert hashes[name] == digest, name


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_documents_equal_sentence_transformers(embedder: Embedder, reference: dict[str, Any],
                                               batch_size: int) -> None:
    got = embedder.embed_documents(reference["sentences"], batch_size=batch_size,
                                   max_pieces=embedder.max_tokens)
    expected = _expected(reference)
    assert got.dtype == np.float32
    assert got.shape == expected.shape == (len(reference["sentences"]), embedder.dim)
    # Measured: 2.4e-7 with onnxruntime 1.32 (docs/SEMANTIC.md).
    assert float(np.abs(got - expected).max()) < TOLERANCE


def test_query_equals_sentence_transformers(embedder: Embedder,
                                            reference: dict[str, Any]) -> None:
    for sentence, expected in zip(reference["sentences"], _expected(reference), strict=True):
        got = embedder.embed_query(sentence)
        assert got.dtype == np.float32
        assert got.shape == (embedder.dim,)
        assert float(np.abs(got - expected).max()) < TOLERANCE, sentence


def test_vectors_have_unit_length_and_keep_the_given_order(embedder: Embedder) -> None:
    texts = ["x " * n + "end" for n in (40, 1, 300, 7, 0, 12)]  # lengths out of order
    together = embedder.embed_documents(texts, batch_size=2, max_pieces=embedder.max_tokens)
    one_by_one = np.stack([embedder.embed_query(t) for t in texts])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)
    assert float(np.abs(together - one_by_one).max()) < TOLERANCE


def test_text_past_256_word_pieces_is_cut_as_the_model_cuts_it(embedder: Embedder) -> None:
    # [CLS] + 254 word pieces + [SEP] = 256: whatever follows is not seen.
    head = " ".join(f"w{i % 10}" for i in range(127))  # "w0" is 2 word pieces: 254 in all
    long, longer = embedder.embed_documents([head + " tail", head + " other words entirely"],
                                            max_pieces=embedder.max_tokens)
    assert float(np.abs(long - longer).max()) == 0.0
    assert float(np.abs(embedder.embed_query(head[:100]) - long).max()) > 1e-3


def test_documents_are_cut_at_their_own_length_by_default(embedder: Embedder,
                                                          reference: dict[str, Any]) -> None:
    pieces = embedder.document_pieces
    assert 2 < pieces < embedder.max_tokens
    # [CLS] + (pieces - 2) word pieces + [SEP]: "w0" is 2 word pieces.
    head = " ".join(f"w{i % 10}" for i in range((pieces - 2) // 2))
    cut, cut_too = embedder.embed_documents([head + " tail", head + " other words entirely"])
    assert float(np.abs(cut - cut_too).max()) == 0.0
    # What follows the cut is read by a query (up to 256) and by an explicit longer cut.
    assert float(np.abs(embedder.embed_query(head + " tail") - cut).max()) > 1e-3
    longer = embedder.embed_documents([head + " tail"], max_pieces=pieces + 4)[0]
    assert float(np.abs(longer - cut).max()) > 1e-3
    # The cut is the tokenizer's own truncation: the head alone, closed by [SEP], is the same.
    assert float(np.abs(embedder.embed_query(head) - cut).max()) < TOLERANCE
    # Texts within the cut are embedded whole: equal to sentence-transformers.
    short = [i for i, s in enumerate(reference["sentences"]) if len(s) <= 120]  # ≤ 31 pieces
    assert len(short) == len(reference["sentences"]) - 1  # all but the one past 256 pieces
    got = embedder.embed_documents([reference["sentences"][i] for i in short])
    assert float(np.abs(got - _expected(reference)[short]).max()) < TOLERANCE
    with pytest.raises(ValueError, match="max_pieces"):
        embedder.embed_documents(["x"], max_pieces=embedder.max_tokens + 1)
    with pytest.raises(ValueError, match="max_pieces"):
        embedder.embed_documents(["x"], max_pieces=1)


def test_loaded_once_per_process_and_identified(embedder: Embedder) -> None:
    assert Embedder.load() is embedder
    assert Embedder.load(package_model_dir()) is embedder
    assert embedder.dim == 384
    assert "all-MiniLM-L6-v2" in embedder.model_id
    assert TEXT_RECIPE in embedder.model_id
    assert embedder.model_id.endswith(f"+{embedder.document_pieces}p")
    assert EXPECTED_SHA256["model.safetensors"][:12] in embedder.model_id


def test_threads_share_one_embedder(embedder: Embedder, reference: dict[str, Any]) -> None:
    sentences: list[str] = reference["sentences"]
    expected = _expected(reference)

    def embed(i: int) -> float:
        got = embedder.embed_documents(sentences[i % 10:] + sentences[:i % 10], batch_size=4,
                                       max_pieces=embedder.max_tokens)
        return float(np.abs(got - np.roll(expected, -(i % 10), axis=0)).max())

    with ThreadPoolExecutor(max_workers=4) as pool:
        worst = max(pool.map(embed, range(8)))
    assert worst < TOLERANCE


def test_bad_input_is_refused_clearly(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="not one string"):
        embedder.embed_documents("a single string")
    with pytest.raises(TypeError, match="str"):
        embedder.embed_documents(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="one text"):
        embedder.embed_query(["a", "list"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        embedder.embed_documents(["a"], batch_size=0)
    empty = embedder.embed_documents([])
    assert empty.shape == (0, embedder.dim)
    assert empty.dtype == np.float32
