"""The retrieval memory every graph uses: persistent Chroma collections searched with our own embeddings.

Chroma is imported when a `Memory` first touches its store, and the embedding model when the first text is
embedded, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from pedagraph.errors import ConfigError, DataError
from pedagraph.memory.embeddings import MODEL_NAME, Embedder, get_embedder

if TYPE_CHECKING:
    import numpy as np

COLLECTIONS: tuple[str, ...] = ("materials", "episodes", "strategies", "examples", "notes")
"""The collections of the memory: course materials, per-learner episodes, the strategy library, worked examples,
learners' private notes."""

PRIVATE: tuple[str, ...] = ("episodes", "notes")
"""Collections of one learner's texts: every text has a `learner_id`, and every search or listing pins one."""

FILTER_KEYS: tuple[str, ...] = ("learner_id", "course", "source", "skill")
"""Metadata keys with a keyword shortcut on `search`, `get`, `count` and `delete`."""

POSITION_KEYS: tuple[str, ...] = ("heading", "page", "chunk_index", "char_start", "char_end")
"""Metadata keys that locate a chunk inside its source."""

_MAX_BATCH = 1000
_MAX_K = 1000
_SCALARS = (str, int, float, bool)


class LearnerScopeError(DataError):
    """A private collection (`episodes`, `notes`) was written or searched without pinning one learner."""


def check_collection(name: str) -> str:
    """Validate a collection name, raising a ConfigError that lists the valid ones."""
    if not isinstance(name, str) or name not in COLLECTIONS:
        raise ConfigError(f"unknown memory collection {name!r}", hint=f"use one of: {', '.join(COLLECTIONS)}")
    return name


@dataclass(frozen=True)
class Hit:
    """One stored text with its metadata and, for a search result, its cosine similarity to the query."""

    id: str
    text: str
    score: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    collection: str = ""

    @property
    def source(self) -> str | None:
        """Where the text came from (a file path for ingested material), if recorded."""
        value = self.metadata.get("source")
        return str(value) if value is not None else None

    @property
    def position(self) -> dict[str, Any]:
        """Where the text sits in its source: heading path, page, chunk index, character offsets."""
        return {key: self.metadata[key] for key in POSITION_KEYS if key in self.metadata}

    @property
    def citation(self) -> str:
        """A short human-readable reference, e.g. `notes.md § Fractions > Adding, part 3` (parts count from 1)."""
        source = self.source
        name = (PurePath(source).name or source) if source else self.id
        heading = self.metadata.get("heading")
        parts = [f"{name} § {heading}" if heading else name]
        if "page" in self.metadata:
            parts.append(f"p. {self.metadata['page']}")
        if "chunk_index" in self.metadata:
            parts.append(f"part {int(self.metadata['chunk_index']) + 1}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (what graph nodes put into state)."""
        return {
            "id": self.id,
            "text": self.text,
            "score": self.score,
            "collection": self.collection,
            "source": self.source,
            "position": self.position,
            "citation": self.citation,
            "metadata": dict(self.metadata),
        }


def build_where(where: Mapping[str, Any] | None = None, **equals: Any) -> dict[str, Any] | None:
    """Combine a Chroma `where` filter and `key=value` equalities (None values ignored) into one filter."""
    clauses: list[dict[str, Any]] = []
    if where:
        if not isinstance(where, Mapping):
            raise DataError(f"a metadata filter must be a dict, got {type(where).__name__}")
        plain = {k: v for k, v in where.items() if not str(k).startswith("$")}
        ops = {k: v for k, v in where.items() if str(k).startswith("$")}
        clauses.extend({k: v} for k, v in plain.items())
        if ops:
            clauses.append(dict(ops))
    for key, value in equals.items():
        if value is not None:
            clauses.append({key: value})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def pins_learner(where: Mapping[str, Any] | None) -> bool:
    """Tell whether a filter restricts results to exactly one learner id (`learner_id` equality, ANDed)."""
    if not where:
        return False
    for key, value in where.items():
        if key == "learner_id":
            if isinstance(value, Mapping):
                value = value.get("$eq") if set(value) == {"$eq"} else None
            if isinstance(value, str) and value.strip():
                return True
        elif key == "$and" and isinstance(value, list):
            if any(isinstance(c, Mapping) and pins_learner(c) for c in value):
                return True
    return False


def _clean_metadata(raw: Mapping[str, Any] | None, index: int) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        if not isinstance(key, str) or not key:
            raise DataError(f"metadata #{index}: keys must be non-empty strings, got {key!r}")
        if value is None:
            continue
        if isinstance(value, PurePath):
            value = str(value)
        if not isinstance(value, _SCALARS):
            raise DataError(f"metadata #{index}: {key!r} must be a str, int, float or bool, got {type(value).__name__}")
        meta[key] = value
    return meta


def content_id(collection: str, text: str, metadata: Mapping[str, Any]) -> str:
    """Derive a deterministic id from a text and its metadata, so adding the same thing twice stores it once."""
    payload = json.dumps([collection, text, {k: v for k, v in metadata.items() if k != "added_at"}], sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


class Memory:
    """Persistent retrieval memory: add, search, get, count and delete texts in the pedagraph collections."""

    def __init__(self, home: str | Path | None = None, *, embedder: Embedder | None = None) -> None:
        if home is None:
            from pedagraph.settings import ensure_home, load_settings

            settings = load_settings()
            self.home = ensure_home(settings)
            self.chroma_dir = settings.chroma_dir
        else:
            self.home = Path(home).expanduser()
            self.chroma_dir = self.home / "chroma"
        self._embedder = embedder
        self._client: Any = None
        self._collections: dict[str, Any] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Memory(home={str(self.home)!r})"

    # -- plumbing -------------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedder in use (the shared all-MiniLM-L6-v2 unless one was passed in)."""
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    @property
    def client(self) -> Any:
        """The Chroma PersistentClient under `<home>/chroma`, created on first use."""
        with self._lock:
            if self._client is None:
                try:
                    import chromadb
                    from chromadb.config import Settings as ChromaSettings
                except ImportError:
                    raise ConfigError("chromadb is not installed", hint="pip install 'chromadb>=1.5,<2'") from None
                try:
                    self.chroma_dir.mkdir(parents=True, exist_ok=True)
                    self._client = chromadb.PersistentClient(
                        path=str(self.chroma_dir), settings=ChromaSettings(anonymized_telemetry=False)
                    )
                except Exception as exc:  # noqa: BLE001 - any open failure becomes one line
                    raise ConfigError(
                        f"cannot open the memory store at {self.chroma_dir}: {type(exc).__name__}: {exc}",
                        hint="check PEDAGRAPH_HOME and its permissions",
                    ) from None
            return self._client

    def collection(self, name: str) -> Any:
        """Return the raw Chroma collection (created with no embedding function: we always pass vectors)."""
        check_collection(name)
        with self._lock:
            col = self._collections.get(name)
            if col is None:
                col = self.client.get_or_create_collection(
                    name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedding_model": MODEL_NAME, "dim": self.embedder_dim},
                )
                stored = (col.metadata or {}).get("embedding_model")
                if stored and stored != MODEL_NAME:
                    raise ConfigError(
                        f"collection {name!r} was built with {stored}, not {MODEL_NAME}",
                        hint=f"use another PEDAGRAPH_HOME or delete {self.chroma_dir}",
                    )
                self._collections[name] = col
            return col

    @property
    def embedder_dim(self) -> int:
        """Vector size of the embedder (384 for all-MiniLM-L6-v2)."""
        return int(getattr(self._embedder, "dim", 384)) if self._embedder is not None else 384

    def _call(self, what: str, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            msg = " ".join(str(exc).split())[:300]
            raise DataError(f"memory {what} rejected: {msg}") from None
        except Exception as exc:
            from chromadb.errors import ChromaError

            if isinstance(exc, ChromaError):
                msg = " ".join(str(exc).split())[:300]
                raise DataError(f"memory {what} failed: {type(exc).__name__}: {msg}") from None
            raise

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with the memory's embedder (unit-length rows)."""
        return self.embedder.embed(list(texts))

    # -- the API --------------------------------------------------------------------------------------

    def add(
        self,
        collection: str,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        *,
        embeddings: Any = None,
    ) -> list[str]:
        """Add (or replace, by id) texts with metadata; ids default to a hash of text and metadata."""
        name = check_collection(collection)
        if isinstance(texts, str):
            raise DataError("texts must be a list of strings, not one string")
        texts = list(texts)
        if not texts:
            return []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"text #{i} is empty or not a string")
        if metadatas is not None and len(metadatas) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(metadatas)} metadatas")
        if ids is not None and len(ids) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(ids)} ids")
        now = time.time()
        metas = []
        for i in range(len(texts)):
            meta = _clean_metadata(metadatas[i] if metadatas is not None else None, i)
            if name in PRIVATE and not (isinstance(meta.get("learner_id"), str) and meta["learner_id"].strip()):
                raise LearnerScopeError(
                    f"{name} #{i} has no learner_id", hint=f"{name} are per learner: set metadata learner_id"
                )
            metas.append(meta)
        if ids is None:
            id_list = [content_id(name, t, m) for t, m in zip(texts, metas, strict=True)]
        else:
            id_list = [str(x) for x in ids]
            if any(not x for x in id_list):
                raise DataError("ids must be non-empty strings")
        if len(set(id_list)) != len(id_list):
            raise DataError("duplicate ids in one add (the same text and metadata twice?)")
        for meta in metas:
            meta.setdefault("added_at", now)
        if embeddings is None:
            vectors = self.embed(texts)
        else:
            import numpy as np

            vectors = np.asarray(embeddings, dtype=np.float32)
            if vectors.shape != (len(texts), self.embedder_dim):
                raise DataError(f"embeddings must have shape ({len(texts)}, {self.embedder_dim}), got {vectors.shape}")
        col = self.collection(name)
        for start in range(0, len(texts), _MAX_BATCH):
            end = start + _MAX_BATCH
            self._call(
                "add",
                col.upsert,
                ids=id_list[start:end],
                embeddings=vectors[start:end],
                documents=texts[start:end],
                metadatas=metas[start:end],
            )
        return id_list

    def search(
        self,
        collection: str,
        query: str,
        k: int = 5,
        where: Mapping[str, Any] | None = None,
        *,
        learner_id: str | None = None,
        course: str | None = None,
        source: str | None = None,
        skill: str | None = None,
    ) -> list[Hit]:
        """Return the k texts most similar to the query (cosine), best first, optionally filtered by metadata.

        Searching `episodes` or `notes` needs `learner_id` (or a `where` that pins one), so learners never see
        each other's episodes or notes: the filter is part of the store's query.
        """
        name = check_collection(collection)
        if not isinstance(query, str) or not query.strip():
            raise DataError("the search query is empty")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= _MAX_K:
            raise DataError(f"k must be an integer from 1 to {_MAX_K}, got {k!r}")
        flt = build_where(where, learner_id=learner_id, course=course, source=source, skill=skill)
        self._check_scope(name, flt, "search")
        col = self.collection(name)
        vector = self.embed([query])
        res = self._call(
            "search",
            col.query,
            query_embeddings=vector,
            n_results=k,
            where=flt,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for id_, doc, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            hits.append(
                Hit(id=id_, text=doc or "", score=1.0 - float(dist), metadata=dict(meta or {}), collection=name)
            )
        return hits

    def get(
        self,
        collection: str,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        learner_id: str | None = None,
        course: str | None = None,
        source: str | None = None,
        skill: str | None = None,
    ) -> list[Hit]:
        """Fetch stored texts by id and/or metadata filter (score is None); episodes need ids or a learner."""
        name = check_collection(collection)
        flt = build_where(where, learner_id=learner_id, course=course, source=source, skill=skill)
        if ids is None:
            self._check_scope(name, flt, "get")
        col = self.collection(name)
        res = self._call(
            "get",
            col.get,
            ids=list(ids) if ids is not None else None,
            where=flt,
            limit=limit,
            include=["documents", "metadatas"],
        )
        return [
            Hit(id=i, text=d or "", score=None, metadata=dict(m or {}), collection=name)
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        ]

    def existing_ids(self, collection: str, ids: Sequence[str]) -> set[str]:
        """Return which of the given ids are stored."""
        if not ids:
            return set()
        col = self.collection(check_collection(collection))
        found: set[str] = set()
        id_list = list(ids)
        for start in range(0, len(id_list), _MAX_BATCH):
            res = self._call("get", col.get, ids=id_list[start : start + _MAX_BATCH], include=[])
            found.update(res["ids"])
        return found

    def count(
        self,
        collection: str,
        where: Mapping[str, Any] | None = None,
        *,
        learner_id: str | None = None,
        course: str | None = None,
        source: str | None = None,
        skill: str | None = None,
    ) -> int:
        """Count stored texts, all of them or those matching a metadata filter."""
        name = check_collection(collection)
        flt = build_where(where, learner_id=learner_id, course=course, source=source, skill=skill)
        col = self.collection(name)
        if flt is None:
            return int(self._call("count", col.count))
        return len(self._call("count", col.get, where=flt, include=[])["ids"])

    def delete(
        self,
        collection: str,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        *,
        learner_id: str | None = None,
        course: str | None = None,
        source: str | None = None,
        skill: str | None = None,
    ) -> int:
        """Delete texts by id and/or metadata filter and return how many went; refuses an empty criterion."""
        name = check_collection(collection)
        flt = build_where(where, learner_id=learner_id, course=course, source=source, skill=skill)
        if ids is not None and isinstance(ids, str):
            ids = [ids]
        if not ids and flt is None:
            raise DataError("delete needs ids or a metadata filter (refusing to delete everything)")
        col = self.collection(name)
        found = self._call("delete", col.get, ids=list(ids) if ids else None, where=flt, include=[])["ids"]
        for start in range(0, len(found), _MAX_BATCH):
            self._call("delete", col.delete, ids=found[start : start + _MAX_BATCH])
        return len(found)

    @staticmethod
    def _check_scope(name: str, flt: Mapping[str, Any] | None, what: str) -> None:
        if name in PRIVATE and not pins_learner(flt):
            raise LearnerScopeError(
                f"cannot {what} {name} without a learner id",
                hint=f"pass learner_id=... so one learner never sees another's {name}",
            )


_memories: dict[Path, Memory] = {}
_memories_lock = threading.Lock()


def get_memory(home: str | Path | None = None) -> Memory:
    """Return the process-wide Memory of a PEDAGRAPH_HOME (the configured one by default), creating it once."""
    if home is None:
        from pedagraph.settings import load_settings

        home = load_settings().home
    key = Path(home).expanduser().resolve()
    with _memories_lock:
        mem = _memories.get(key)
        if mem is None:
            mem = _memories[key] = Memory(key)
        return mem


def reset_memories() -> None:
    """Forget the cached Memory objects (tests, or after moving PEDAGRAPH_HOME)."""
    with _memories_lock:
        _memories.clear()
