"""What every evaluator shares: the ``Evaluator`` interface, motion batching, crops, data fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..data.humanml3d import SPLITS, Caption, Entry, read_split
from ..motion.checks import check_features
from ..motion.normalize import Normalizer
from ..motion.skeleton import CONTACTS, MAX_FRAMES, UNIT_LENGTH
from ..training import crop_length

FINGERPRINT_CHARS = 16
EMBED_BATCH = 256  # items per forward pass when embedding


def embed_in_batches(items: Sequence, embed_batch, what: str) -> np.ndarray:
    """Run ``embed_batch`` (a list of items -> ``(B, D)`` array) over ``items`` in chunks; float64 ``(N, D)``."""
    items = list(items)
    if not items:
        raise ValueError(f"no {what} given to embed")
    out = [embed_batch(items[start : start + EMBED_BATCH]) for start in range(0, len(items), EMBED_BATCH)]
    return np.concatenate(out).astype(np.float64)


class Evaluator(Protocol):
    """A frozen text-motion embedding model; both methods return ``(N, embed_dim)`` float arrays."""

    name: str
    fingerprint: str | None  # of the dataset it was trained on; None: not known (published weights)

    def embed_motions(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Embed un-normalised features, one ``(T, 263)`` array per motion."""
        ...

    def embed_texts(self, captions: Sequence[Caption]) -> np.ndarray:
        """Embed captions (``Caption``: its text, and the ``word/POS`` tokens Guo's evaluator reads)."""
        ...


def evaluation_length(num_frames: int) -> int:
    """Frames an evaluator reads of a motion: at most MAX_FRAMES, rounded down to whole UNIT_LENGTHs."""
    return min(num_frames, MAX_FRAMES) // UNIT_LENGTH * UNIT_LENGTH


def motion_batch(
    features: Sequence[np.ndarray], normalizer: Normalizer, device="cpu", frames: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluator input: ``(B, T, 259)`` normalised features without contact dims, zero-padded; lengths.

    Each motion is checked (shape, NaN/Inf), cut to ``evaluation_length`` frames from its start. The batch is
    padded to the longest motion, or to ``frames``.
    """
    clips = []
    for i, f in enumerate(features):
        f = check_features(f, min_frames=UNIT_LENGTH, name=f"motion {i}")
        if f.ndim != 2:
            raise ValueError(f"motion {i} must be one clip of shape (T, 263), got {f.shape}")
        clips.append(normalizer(f[: evaluation_length(len(f))].astype(np.float32))[:, : CONTACTS.start])
    if not clips:
        raise ValueError("no motions given to embed")
    lengths = [len(c) for c in clips]
    batch = np.zeros((len(clips), frames or max(lengths), CONTACTS.start), np.float32)
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = clip
    return torch.from_numpy(batch).to(device), torch.tensor(lengths, device=device)


def random_crop(entry: Entry, rng: np.random.Generator) -> tuple[np.ndarray, Caption]:
    """One draw of the standard loaders: a random caption and a random window of a HumanML3D crop length."""
    caption = entry.captions[rng.integers(len(entry.captions))]
    length = crop_length(len(entry.features), MAX_FRAMES, rng)
    start = rng.integers(len(entry.features) - length + 1)
    return entry.features[start : start + length], caption


def random_draw(entries: Sequence[Entry], rng: np.random.Generator) -> tuple[list[np.ndarray], list[Caption]]:
    """``random_crop`` of every entry, in order."""
    pairs = [random_crop(entry, rng) for entry in entries]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def dataset_fingerprint(root) -> str:
    """Fingerprint of a HumanML3D-layout folder: a hash of its split lists and train-split feature files."""
    root = Path(root)
    digest = hashlib.sha256()
    for split in SPLITS:
        path = root / f"{split}.txt"
        digest.update(f"{split}\n".encode() + (path.read_bytes() if path.is_file() else b"<missing>"))
    for name in read_split(root, "train"):
        path = root / "new_joint_vecs" / f"{name}.npy"
        if not path.is_file():
            raise ValueError(f"{path} is listed in the train split but missing: the folder is incomplete")
        digest.update(name.encode() + _file_digest(path))
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def check_fingerprint(evaluator: Evaluator, root, allow_mismatch: bool = False) -> str:
    """Raise if ``evaluator`` was trained on other data than ``root`` (unless allowed); return root's."""
    actual = dataset_fingerprint(root)
    expected = evaluator.fingerprint
    if expected is not None and expected != actual and not allow_mismatch:
        raise ValueError(
            f"evaluator {evaluator.name} was trained on a dataset with fingerprint {expected}, but "
            f"{root} has {actual}: train an evaluator on this dataset (python -m "
            f"motion_diffusion.evaluator train --data {root} --out EVAL) or allow the mismatch "
            "explicitly (--allow-fingerprint-mismatch)"
        )
    return actual


def load_evaluator(path, device="cpu") -> Evaluator:
    """Load our evaluator (a folder with ``evaluator.json``) or Guo's (a folder with ``finest.tar``)."""
    from .contrastive import CONFIG_FILE, ContrastiveTextMotionEvaluator
    from .guo import CHECKPOINT_FILE, GuoEvaluator

    path = Path(path)
    if (path / CONFIG_FILE).is_file():
        return ContrastiveTextMotionEvaluator.load(path, device)
    if (path / CHECKPOINT_FILE).is_file():
        return GuoEvaluator.load(path, device=device)
    raise ValueError(
        f"no evaluator at {path} (neither {CONFIG_FILE} nor Guo's {CHECKPOINT_FILE}): train one with "
        "`python -m motion_diffusion.evaluator train --data DIR --out EVAL` (or `make evaluator`), "
        "or point to a folder with Guo's evaluator files"
    )
