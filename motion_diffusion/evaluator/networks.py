"""Our contrastive text-motion evaluator: a motion encoder and a text head mapped into one shared space.

Motion encoder: normalised 263-d features with the 4 foot-contact dims dropped (as Guo's evaluator), two
strided 1-D convolutions (time / UNIT_LENGTH, like Guo's movement encoder), a small transformer with a
padding mask, masked mean pooling, and a linear map to the embedding. Text head: an MLP on the frozen MiniLM
sentence embedding. Both embeddings are unit vectors, so the metrics' Euclidean distances lie in [0, 2].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..motion.skeleton import CONTACTS, FEATURE_DIM, MAX_FRAMES, UNIT_LENGTH
from ..text.minilm import MINILM_DIM, MINILM_NAME

assert CONTACTS.stop == FEATURE_DIM, "the contact dims are expected last in the feature vector"
MOTION_INPUT_DIM = CONTACTS.start  # 259: the evaluator never sees the foot-contact labels
CONV_STRIDE = 2  # two stride-2 convolutions make one token per UNIT_LENGTH frames
assert CONV_STRIDE**2 == UNIT_LENGTH
MAX_TOKENS = MAX_FRAMES // UNIT_LENGTH


@dataclass(frozen=True)
class EvaluatorConfig:
    """Architecture of our evaluator (stored in ``evaluator.json``)."""

    width: int = 128
    layers: int = 3
    heads: int = 4
    ffn: int = 256
    dropout: float = 0.1
    embed_dim: int = 64
    text_encoder: str = MINILM_NAME
    text_dim: int = MINILM_DIM

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be a multiple of heads {self.heads}")
        if min(self.width, self.layers, self.heads, self.ffn, self.embed_dim, self.text_dim) < 1:
            raise ValueError(f"evaluator sizes must be positive, got {self}")

    @classmethod
    def from_dict(cls, data: dict) -> EvaluatorConfig:
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def token_mask(lengths: torch.Tensor, tokens: int) -> torch.Tensor:
    """``(B, tokens)`` True where a token covers real frames (one token per UNIT_LENGTH frames)."""
    return torch.arange(tokens, device=lengths.device)[None] < (lengths // UNIT_LENGTH)[:, None]


class MotionEncoder(nn.Module):
    """``(B, T, 259)`` normalised features, lengths (multiples of UNIT_LENGTH) -> ``(B, E)`` unit vectors."""

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        w = config.width
        self.conv1 = nn.Conv1d(MOTION_INPUT_DIM, w, 2 * CONV_STRIDE, CONV_STRIDE, CONV_STRIDE // 2)
        self.conv2 = nn.Conv1d(w, w, 2 * CONV_STRIDE, CONV_STRIDE, CONV_STRIDE // 2)
        self.position = nn.Parameter(torch.zeros(MAX_TOKENS, w))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            w, config.heads, config.ffn, config.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(w)
        self.out = nn.Linear(w, config.embed_dim)

    def forward(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``motion`` is zero beyond each length; the result does not depend on the padding or the batch."""
        x = F.gelu(self.conv1(motion.transpose(1, 2)))
        # zero the half-rate frames past each motion, so the next convolution sees padding as at a clip's end
        x = x * (torch.arange(x.shape[2], device=x.device)[None] < (lengths // CONV_STRIDE)[:, None])[:, None]
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        tokens = x.shape[1]
        if tokens > MAX_TOKENS:
            raise ValueError(f"crop motions to {MAX_FRAMES} frames first, got {motion.shape[1]}")
        valid = token_mask(lengths, tokens)
        x = self.transformer(x + self.position[:tokens], src_key_padding_mask=~valid)
        weights = valid.unsqueeze(-1).to(x.dtype)
        pooled = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
        return F.normalize(self.out(self.norm(pooled)), dim=-1)


class TextHead(nn.Module):
    """Frozen sentence embeddings ``(B, text_dim)`` -> ``(B, E)`` unit vectors."""

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(config.text_dim, config.width),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.width, config.embed_dim),
        )

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(sentence), dim=-1)


class ContrastiveEvaluator(nn.Module):
    """The two encoders together (the state dict that ``evaluator.safetensors`` holds)."""

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.config = config
        self.motion = MotionEncoder(config)
        self.text = TextHead(config)


def info_nce(
    text: torch.Tensor,
    motion: torch.Tensor,
    caption_similarity: torch.Tensor,
    temperature: float,
    threshold: float,
) -> torch.Tensor:
    """Symmetric InfoNCE on cosine similarities of unit embeddings ``(B, E)``, TMR-style.

    A negative pair whose captions are near-duplicates (``caption_similarity > threshold``, the cosine of
    their sentence embeddings) is left out of both softmaxes: it may describe the same motion.
    """
    logits = text @ motion.T / temperature
    near_duplicate = caption_similarity > threshold
    near_duplicate.fill_diagonal_(False)
    logits = logits.masked_fill(near_duplicate, float("-inf"))
    target = torch.arange(len(text), device=text.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
