"""Semantic search's embedding model: all-MiniLM-L6-v2 on onnxruntime, offline, no PyTorch.

- ``Embedder.load(model_dir=None) -> Embedder`` (once per process, thread-safe use):
  ``.model_id``, ``.dim``, ``.embed_documents(texts, batch_size=32, *, max_pieces=None)``
  (a document's first 48 word pieces by default), ``.embed_query(text)`` (up to 256).
- ``ModelUnavailableError``: a package or model file is missing or damaged; says what to install.
- ``meaning_text(title, teams, services, description)``: the text of a document to embed;
  ``beyond_name(name, description)``: what a description says beyond the name.

Knows nothing of PagerDuty, the index or settings. ``Embedder`` (and onnxruntime with it) is
imported on first use, so the document mapping can use ``meaning_text`` without loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pdsearch.semantic.text import TEXT_RECIPE, beyond_name, meaning_text
from pdsearch.semantic.weights import MODEL_NAME, MODEL_REQUIREMENT, ModelUnavailableError

if TYPE_CHECKING:
    from pdsearch.semantic.embedder import Embedder, Vectors

__all__ = ["MODEL_NAME", "MODEL_REQUIREMENT", "TEXT_RECIPE", "Embedder", "ModelUnavailableError",
           "Vectors", "beyond_name", "meaning_text"]


def __getattr__(name: str) -> Any:
    if name in ("Embedder", "Vectors"):
        from pdsearch.semantic import embedder

        return getattr(embedder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
