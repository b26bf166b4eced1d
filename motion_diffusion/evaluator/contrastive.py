"""Our trained evaluator as a frozen object: embedding, saving and loading.

Folder layout (written to a temporary folder, then renamed into place)::

    evaluator.json         architecture config, dataset fingerprint, training settings and seed, its numbers
    evaluator.safetensors  weights of the motion encoder and the text head
    Mean.npy, Std.npy      the normalisation its motion encoder reads (the train split's)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..data.humanml3d import Caption
from ..motion.files import atomic_folder
from ..motion.normalize import Normalizer
from ..text import TextEmbedder
from .base import embed_in_batches, motion_batch
from .networks import ContrastiveEvaluator, EvaluatorConfig

CONFIG_FILE = "evaluator.json"
WEIGHTS_FILE = "evaluator.safetensors"
FORMAT_VERSION = 1


def caption_texts(captions: Sequence[Caption | str]) -> list[str]:
    """The caption strings of ``Caption`` objects (plain strings pass through)."""
    return [c if isinstance(c, str) else c.text for c in captions]


class ContrastiveTextMotionEvaluator:
    """Our evaluator, frozen: ``embed_motions`` and ``embed_texts`` give unit vectors in one space."""

    def __init__(
        self,
        network: ContrastiveEvaluator,
        normalizer: Normalizer,
        fingerprint: str | None,
        info: dict | None = None,
        device="cpu",
        embedder: TextEmbedder | None = None,
    ):
        self.network = network.to(device).eval()
        self.normalizer = normalizer
        self.fingerprint = fingerprint
        self.info = dict(info or {})
        self.device = torch.device(device)
        self.embedder = embedder or TextEmbedder(network.config.text_encoder, str(self.device))
        if self.embedder.dim != network.config.text_dim:
            width = network.config.text_dim
            raise ValueError(f"text encoder width {self.embedder.dim} != the evaluator's {width}")
        self.name = f"contrastive:{fingerprint}"

    @property
    def config(self) -> EvaluatorConfig:
        return self.network.config

    @torch.no_grad()
    def embed_motions(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Embed un-normalised ``(T, 263)`` features (first MAX_FRAMES frames, whole UNIT_LENGTH units)."""

        def embed(batch):
            motion, lengths = motion_batch(batch, self.normalizer, self.device)
            return self.network.motion(motion, lengths).cpu().numpy()

        return embed_in_batches(features, embed, "motions")

    @torch.no_grad()
    def embed_texts(self, captions: Sequence[Caption | str]) -> np.ndarray:
        """Embed captions (``Caption`` objects or strings)."""
        texts = caption_texts(captions)
        if not texts:
            raise ValueError("no captions given to embed")
        sentences = torch.from_numpy(self.embedder.embed(texts)).to(self.device)
        return self.network.text(sentences).cpu().numpy().astype(np.float64)

    def save(self, folder) -> Path:
        """Write the evaluator folder atomically."""
        with atomic_folder(folder) as tmp:
            meta = {
                "format": FORMAT_VERSION,
                "architecture": self.config.to_dict(),
                "fingerprint": self.fingerprint,
                **self.info,
            }
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            weights = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
            save_file(weights, tmp / WEIGHTS_FILE)
            self.normalizer.save(tmp)
        return folder

    @classmethod
    def load(cls, folder, device="cpu") -> ContrastiveTextMotionEvaluator:
        """Load a folder written by ``save`` (see the module docstring)."""
        folder = Path(folder)
        needed = (CONFIG_FILE, WEIGHTS_FILE, "Mean.npy", "Std.npy")
        missing = [n for n in needed if not (folder / n).is_file()]
        if missing:
            raise ValueError(
                f"{folder} is not an evaluator folder (missing {', '.join(missing)}): train one with "
                "`python -m motion_diffusion.evaluator train --data DIR --out EVAL`"
            )
        meta = json.loads((folder / CONFIG_FILE).read_text())
        if meta.get("format") != FORMAT_VERSION:
            found = meta.get("format")
            raise ValueError(f"{folder} has evaluator format {found}, this code reads {FORMAT_VERSION}")
        network = ContrastiveEvaluator(EvaluatorConfig.from_dict(meta.pop("architecture")))
        network.load_state_dict(load_file(folder / WEIGHTS_FILE))
        meta.pop("format")
        fingerprint = meta.pop("fingerprint")
        return cls(network, Normalizer.load(folder), fingerprint, meta, device)
