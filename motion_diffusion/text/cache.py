"""Caption embeddings computed once per distinct caption: an in-memory dict plus an optional ``.npz`` on disk."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..motion.files import atomic_open
from .clip import CLIP_NAME, CLIPEncoder, check_clip_folder, clip_cache_key, clip_dim
from .minilm import MINILM_DIM, MINILM_NAME, MiniLMEncoder

TEXT_ENCODERS = (MINILM_NAME, CLIP_NAME)
EMBED_CHUNK = 1024  # captions encoded per progress-bar tick


def _check_name(name: str) -> None:
    if name not in TEXT_ENCODERS:
        raise ValueError(f"unknown text encoder {name!r}; choose one of {list(TEXT_ENCODERS)}")


def text_embedding_dim(name: str, clip_path=None) -> int:
    """Width of the embeddings of encoder ``name`` without loading its weights."""
    _check_name(name)
    return MINILM_DIM if name == MINILM_NAME else clip_dim(clip_path)


def load_text_encoder(name: str = MINILM_NAME, device: str = "cpu", clip_path=None):
    """Load a frozen text encoder: ``minilm`` (offline, default) or ``clip`` (from the local folder ``clip_path``).

    Encoders are frozen, so one instance per (name, device, folder) is shared by the whole process.
    """
    _check_name(name)
    return _load_encoder(name, str(device), None if clip_path is None else str(Path(clip_path).resolve()))


@functools.lru_cache(maxsize=4)
def _load_encoder(name: str, device: str, clip_path: str | None):
    return MiniLMEncoder(device) if name == MINILM_NAME else CLIPEncoder(clip_path, device)


class TextEmbedder:
    """Caption -> embedding ``(dim,)`` float32, each distinct caption encoded once.

    The encoder is loaded on the first caption that is not cached yet, so a fully cached run never loads it.
    With ``cache_dir`` the cache lives in ``cache_dir/text_embeddings_<hash of the encoder>.npz``: it is read
    at construction and written by ``save``.
    """

    def __init__(self, name: str = MINILM_NAME, device: str = "cpu", clip_path=None, cache_dir=None, encoder=None):
        _check_name(name)
        if name == CLIP_NAME:
            clip_path = check_clip_folder(clip_path)
        self.name = name
        self.device = device
        self.clip_path = clip_path
        self.dim = text_embedding_dim(name, clip_path)
        self.cache_key = MiniLMEncoder.cache_key if name == MINILM_NAME else clip_cache_key(clip_path)
        self._encoder = encoder
        self._memory: dict[str, np.ndarray] = {}
        self._unsaved = False
        self.cache_file = None
        if cache_dir is not None:
            digest = hashlib.sha256(self.cache_key.encode()).hexdigest()[:12]
            self.cache_file = Path(cache_dir) / f"text_embeddings_{digest}.npz"
            if self.cache_file.is_file():
                self._read(self.cache_file)

    @property
    def encoder(self):
        """The text encoder, loaded on first use."""
        if self._encoder is None:
            self._encoder = load_text_encoder(self.name, self.device, self.clip_path)
        return self._encoder

    def __len__(self) -> int:
        return len(self._memory)

    def __contains__(self, text: str) -> bool:
        return text in self._memory

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embeddings ``(N, dim)`` float32 of ``texts``, encoding only captions not seen before."""
        if isinstance(texts, str):
            raise ValueError("embed takes a list of captions, not a single string")
        missing = list(dict.fromkeys(t for t in texts if t not in self._memory))
        chunks = range(0, len(missing), EMBED_CHUNK)
        for start in tqdm(chunks, desc=f"embed captions ({self.name})", disable=not progress or len(chunks) < 2):
            batch = missing[start : start + EMBED_CHUNK]
            vectors = self.encoder.encode(batch)
            if vectors.shape != (len(batch), self.dim):
                raise ValueError(f"text encoder returned shape {vectors.shape}, expected ({len(batch)}, {self.dim})")
            self._memory.update(zip(batch, vectors, strict=True))
            self._unsaved = True
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._memory[t] for t in texts]).astype(np.float32, copy=False)

    def save(self) -> None:
        """Write the cache file (atomically) if there is one and something new was encoded."""
        if self.cache_file is None or not self._unsaved:
            return
        texts = list(self._memory)
        with atomic_open(self.cache_file, "wb") as f:
            np.savez(f, texts=np.array(texts, dtype=str), embeddings=np.stack([self._memory[t] for t in texts]))
        self._unsaved = False

    def _read(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            texts, embeddings = data["texts"], data["embeddings"]
        if embeddings.ndim != 2 or embeddings.shape != (len(texts), self.dim):
            raise ValueError(f"text-embedding cache {path} does not match encoder {self.name}: delete the file")
        self._memory.update(zip(texts.tolist(), embeddings.astype(np.float32), strict=True))
