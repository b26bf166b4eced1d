"""Denoiser sizes, kept in one dict: ``tiny`` for CPU runs and tests, ``mdm`` as in MDM (humanml-enc-512)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..motion.skeleton import FEATURE_DIM, MAX_FRAMES

PRESETS: dict[str, dict] = {
    # tiny: no dropout (2.3x the steps per second on a CPU: attention dropout forces the slow attention path; an
    # underfitted 14-minute model gains nothing from it) and whitened text embeddings (see MotionDenoiser).
    "tiny": dict(width=128, layers=4, heads=4, ffn=256, dropout=0.0, whiten_text=True),
    "mdm": dict(width=512, layers=8, heads=4, ffn=1024, dropout=0.1),
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a denoiser; stored in each checkpoint's ``config.json``."""

    preset: str
    width: int
    layers: int
    heads: int
    ffn: int
    dropout: float
    text_dim: int
    whiten_text: bool = False
    max_frames: int = MAX_FRAMES
    feature_dim: int = FEATURE_DIM

    @classmethod
    def from_preset(cls, preset: str, text_dim: int) -> ModelConfig:
        """The config of a named preset for a text encoder of width ``text_dim``."""
        if preset not in PRESETS:
            raise ValueError(f"unknown model preset {preset!r}; choose one of {sorted(PRESETS)}")
        return cls(preset=preset, text_dim=text_dim, **PRESETS[preset])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**data)
