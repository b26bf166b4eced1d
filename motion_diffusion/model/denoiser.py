"""MDM-style denoiser: a transformer encoder over [condition token, frame tokens] that predicts the clean motion."""

from __future__ import annotations

import math

import torch
from torch import nn

from .presets import ModelConfig

SINUSOID_BASE = 10000.0  # wavelength base of the sinusoidal timestep and position encodings
WHITENING_SHRINKAGE = 0.1  # ZCA whitening of text embeddings adds this fraction of the mean variance to each one


def sinusoidal_embedding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoidal encoding of integer ``positions`` ``(N,)`` -> ``(N, dim)`` (sin and cos interleaved)."""
    half = torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device)
    angles = positions.float()[:, None] * torch.exp(-math.log(SINUSOID_BASE) * half / dim)
    out = torch.zeros(len(positions), dim, device=positions.device)
    out[:, 0::2] = torch.sin(angles)
    out[:, 1::2] = torch.cos(angles)
    return out


class MotionDenoiser(nn.Module):
    """Transformer denoiser over normalised HumanML3D features.

    One condition token (timestep MLP + projected text embedding, or a learned null embedding for
    classifier-free guidance) is prepended to the frame tokens. Padded frames are hidden from attention by a
    key-padding mask, so a motion's prediction does not depend on how much padding its batch has.

    With ``whiten_text`` the text embedding is first whitened with statistics of the training captions
    (``fit_text_whitening``; frozen parameters, so they travel with the checkpoint). Sentence embeddings of
    captions are all alike (MiniLM puts "a person walks forward" at cosine 0.86 from "a person walks backward");
    whitening spreads them (0.34), so the few words that matter are not drowned by the shared part.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        width = config.width
        self.input = nn.Linear(config.feature_dim, width)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.text_proj = nn.Linear(config.text_dim, width)
        self.null_text = nn.Parameter(torch.zeros(width))
        if config.whiten_text:
            self.text_mean = nn.Parameter(torch.zeros(config.text_dim), requires_grad=False)
            self.text_whitening = nn.Parameter(torch.eye(config.text_dim), requires_grad=False)
        layer = nn.TransformerEncoderLayer(
            width, config.heads, config.ffn, config.dropout, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(width, config.feature_dim)
        positions = sinusoidal_embedding(torch.arange(config.max_frames + 1), width)
        self.register_buffer("positions", positions, persistent=False)

    @torch.no_grad()
    def fit_text_whitening(self, embeddings: torch.Tensor) -> None:
        """Set the text whitening (ZCA with shrinkage) from the embeddings ``(N, text_dim)`` of the training
        captions, each distinct caption once."""
        embeddings = embeddings.double()
        mean = embeddings.mean(0)
        centered = embeddings - mean
        variances, vectors = torch.linalg.eigh(centered.T @ centered / len(centered))
        scale = (variances.clamp(min=0) + WHITENING_SHRINKAGE * variances.mean()).rsqrt()
        self.text_mean.copy_(mean)
        self.text_whitening.copy_(vectors @ torch.diag(scale) @ vectors.T)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        text: torch.Tensor,
        mask: torch.Tensor,
        drop_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the clean motion.

        x ``(B, frames, 263)`` noisy normalised features; t ``(B,)`` timesteps; text ``(B, text_dim)`` embeddings;
        mask ``(B, frames)`` True on real frames; drop_text ``(B,)`` True where the null condition replaces
        the text. Returns ``(B, frames, 263)``.
        """
        batch, frames, _ = x.shape
        if frames > self.config.max_frames:
            raise ValueError(f"{frames} frames exceed the model's maximum of {self.config.max_frames}")
        if self.config.whiten_text:
            text = (text - self.text_mean) @ self.text_whitening
        cond_text = self.text_proj(text)
        if drop_text is not None:
            cond_text = torch.where(drop_text[:, None], self.null_text.to(cond_text.dtype), cond_text)
        cond = self.time_mlp(sinusoidal_embedding(t, self.config.width)) + cond_text
        tokens = torch.cat([cond[:, None], self.input(x)], dim=1) + self.positions[: frames + 1]
        padding = torch.cat([torch.zeros(batch, 1, dtype=torch.bool, device=x.device), ~mask], dim=1)
        hidden = self.encoder(self.dropout(tokens), src_key_padding_mask=padding)
        return self.output(hidden[:, 1:])
