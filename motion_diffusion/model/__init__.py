"""The MDM-style denoiser, its presets, and checkpoint folders."""

from .checkpoint import check_compatible, load_denoiser, read_config, resolve_checkpoint, save_checkpoint
from .denoiser import MotionDenoiser
from .presets import PRESETS, ModelConfig

__all__ = [
    "PRESETS",
    "ModelConfig",
    "MotionDenoiser",
    "check_compatible",
    "load_denoiser",
    "read_config",
    "resolve_checkpoint",
    "save_checkpoint",
]
