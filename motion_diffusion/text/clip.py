"""CLIP text tower (e.g. ViT-B/32 as in MDM) loaded from a local Hugging Face folder; nothing is downloaded.

Make the folder once on a machine with internet access::

    from transformers import CLIPTextModelWithProjection, CLIPTokenizer
    CLIPTextModelWithProjection.from_pretrained("openai/clip-vit-base-patch32").save_pretrained("clip-b32")
    CLIPTokenizer.from_pretrained("openai/clip-vit-base-patch32").save_pretrained("clip-b32")
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

CLIP_NAME = "clip"
ENCODE_BATCH = 256  # captions per forward pass
_FINGERPRINT_BYTES = 1 << 20  # bytes of each weights file hashed to tell weight sets apart quickly
_HOW_TO = (
    "pass the path of a folder saved with transformers' CLIPTextModelWithProjection.save_pretrained and "
    "CLIPTokenizer.save_pretrained (see motion_diffusion/text/clip.py)"
)


def check_clip_folder(path) -> Path:
    """Return ``path`` as a Path after checking it looks like a saved CLIP text model with its tokenizer."""
    if path is None:
        raise ValueError(f"the clip text encoder needs local weights: {_HOW_TO}")
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"CLIP folder {folder} does not exist: {_HOW_TO}")
    weights = list(folder.glob("*.safetensors")) + list(folder.glob("*.bin"))
    missing = [name for name in ("config.json", "tokenizer_config.json") if not (folder / name).is_file()]
    if not weights:
        missing.append("model weights (*.safetensors)")
    if missing:
        raise ValueError(f"CLIP folder {folder} lacks {', '.join(missing)}: {_HOW_TO}")
    return folder


def clip_dim(path) -> int:
    """Width of the projected text embedding of the CLIP model in ``path`` (read from its config only)."""
    from transformers import CLIPTextConfig

    return int(CLIPTextConfig.from_pretrained(check_clip_folder(path)).projection_dim)


def clip_cache_key(path) -> str:
    """A key that changes with the weights: config plus size and first MiB of each weights file."""
    folder = check_clip_folder(path)
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(str(weights.stat().st_size).encode())
        with open(weights, "rb") as f:
            digest.update(f.read(_FINGERPRINT_BYTES))
    return f"{CLIP_NAME}:{digest.hexdigest()[:16]}"


class CLIPEncoder:
    """Frozen CLIP text tower; ``encode`` returns the projected end-of-text features ``(N, dim)`` float32."""

    name = CLIP_NAME

    def __init__(self, path, device: str = "cpu"):
        import torch
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer

        folder = check_clip_folder(path)
        self.device = torch.device(device)
        self.tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = CLIPTextModelWithProjection.from_pretrained(folder, local_files_only=True).to(self.device)
        self.model.eval().requires_grad_(False)
        self.dim = int(self.model.config.projection_dim)
        self.cache_key = clip_cache_key(folder)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed captions (longer ones are truncated to the model's context length)."""
        import torch

        chunks = []
        with torch.no_grad():
            for start in range(0, len(texts), ENCODE_BATCH):
                tokens = self.tokenizer(
                    list(texts[start : start + ENCODE_BATCH]),
                    padding=True,
                    truncation=True,
                    max_length=self.model.config.max_position_embeddings,
                    return_tensors="pt",
                ).to(self.device)
                chunks.append(self.model(**tokens).text_embeds.float().cpu().numpy())
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, self.dim), np.float32)
