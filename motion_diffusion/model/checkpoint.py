"""Checkpoint folders: weights as safetensors, a JSON config, the frozen Mean/Std, and the training state.

Layout of one checkpoint folder (written to a temporary folder, then renamed into place)::

    config.json        model config, diffusion settings, text encoder, training config, step
    model.safetensors  denoiser weights;   ema.safetensors  their exponential moving average
    Mean.npy, Std.npy  the real-data normalisation the model was trained in
    state.pt           optimiser state and step (needed only to resume training)

A run folder keeps its checkpoints as ``checkpoints/step_<step>``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..motion.files import atomic_folder
from ..motion.normalize import Normalizer
from .denoiser import MotionDenoiser
from .presets import ModelConfig

CHECKPOINTS_DIR = "checkpoints"
STEP_PREFIX = "step_"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
STATE_FILE = "state.pt"
FORMAT_VERSION = 1


def checkpoint_name(step: int) -> str:
    return f"{STEP_PREFIX}{step:08d}"


def list_checkpoints(run_dir) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob(f"{STEP_PREFIX}*") if (p / CONFIG_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]))


def resolve_checkpoint(path) -> Path:
    """A checkpoint folder itself, or the latest checkpoint of a run folder."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file() and (path / MODEL_FILE).is_file():
        return path
    found = list_checkpoints(path)
    if not found:
        raise ValueError(
            f"{path} is neither a checkpoint folder (with {CONFIG_FILE} and {MODEL_FILE}) nor a run folder with "
            f"{CHECKPOINTS_DIR}/{STEP_PREFIX}*: train one with `python -m motion_diffusion.train` first"
        )
    return found[-1]


def read_config(checkpoint) -> dict:
    """The ``config.json`` of a checkpoint (folder or run folder)."""
    folder = resolve_checkpoint(checkpoint)
    config = json.loads((folder / CONFIG_FILE).read_text())
    if config.get("format") != FORMAT_VERSION:
        raise ValueError(f"{folder} has checkpoint format {config.get('format')}, this code reads {FORMAT_VERSION}")
    return config


def check_compatible(config: dict, preset: str | None = None, text_encoder: str | None = None, where="") -> None:
    """Raise a clear ``ValueError`` if a checkpoint's preset or text encoder is not the one asked for."""
    have_preset = config["model"]["preset"]
    have_text = config["text_encoder"]["name"]
    if preset is not None and preset != have_preset:
        raise ValueError(
            f"checkpoint {where} was trained with model preset {have_preset!r}, not {preset!r}: "
            f"use --preset {have_preset} or a fresh output folder"
        )
    if text_encoder is not None and text_encoder != have_text:
        raise ValueError(
            f"checkpoint {where} was trained with text encoder {have_text!r}, not {text_encoder!r}: "
            f"use --text-encoder {have_text} or a fresh output folder"
        )


def save_checkpoint(
    folder,
    config: dict,
    model: torch.nn.Module,
    normalizer: Normalizer,
    ema: dict[str, torch.Tensor] | None = None,
    state: dict | None = None,
) -> Path:
    """Write a checkpoint folder atomically (a half-written checkpoint is never visible under ``folder``)."""
    with atomic_folder(folder) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps({"format": FORMAT_VERSION, **config}, indent=2) + "\n")
        save_file(_cpu(model.state_dict()), tmp / MODEL_FILE)
        if ema is not None:
            save_file(_cpu(ema), tmp / EMA_FILE)
        if state is not None:
            torch.save(state, tmp / STATE_FILE)
        normalizer.save(tmp)
    return folder


def load_denoiser(checkpoint, use_ema: bool = True, device="cpu") -> tuple[MotionDenoiser, dict]:
    """Rebuild the denoiser of a checkpoint (EMA weights when present and asked for), in eval mode."""
    folder = resolve_checkpoint(checkpoint)
    config = read_config(folder)
    model = MotionDenoiser(ModelConfig.from_dict(config["model"]))
    weights = folder / (EMA_FILE if use_ema and (folder / EMA_FILE).is_file() else MODEL_FILE)
    model.load_state_dict(load_file(weights))
    return model.to(device).eval(), config


def load_weights(checkpoint, name: str = MODEL_FILE) -> dict[str, torch.Tensor]:
    """One weights file of a checkpoint as a state dict on the CPU."""
    return load_file(resolve_checkpoint(checkpoint) / name)


def load_state(checkpoint) -> dict:
    """The training state (optimiser, step) of a checkpoint."""
    return torch.load(resolve_checkpoint(checkpoint) / STATE_FILE, map_location="cpu", weights_only=True)


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
