"""Text-to-motion generation: load a checkpoint, sample with DDIM or DDPM and classifier-free guidance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .diffusion import GaussianDiffusion, Sampler, guided_denoiser
from .model import MotionDenoiser, load_denoiser, resolve_checkpoint
from .model.checkpoint import CHECKPOINTS_DIR
from .motion import Motion
from .motion.normalize import Normalizer
from .motion.skeleton import FEATURE_DIM, FPS
from .text import TextEmbedder

MIN_GENERATE_FRAMES = FPS  # 1 s: the shortest motion generate accepts
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 2.5
GENERATE_BATCH = 64  # motions per sampling batch


@dataclass
class TextToMotionModel:
    """A trained model ready to sample: denoiser, training diffusion, text embedder, frozen Mean/Std."""

    denoiser: MotionDenoiser
    diffusion: GaussianDiffusion
    embedder: TextEmbedder
    normalizer: Normalizer
    config: dict
    checkpoint: Path | None = None

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    @property
    def max_frames(self) -> int:
        return self.denoiser.config.max_frames


def load_model(checkpoint, device=None, use_ema: bool = True, clip_path=None, cache_dir=None) -> TextToMotionModel:
    """Load a checkpoint folder (or the latest checkpoint of a run folder) for sampling.

    ``clip_path`` overrides the CLIP folder recorded at training time (for ``clip`` models on another
    machine); ``cache_dir`` holds a disk cache of caption embeddings (default: the run folder's, read only).
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    folder = resolve_checkpoint(checkpoint)
    denoiser, config = load_denoiser(folder, use_ema=use_ema, device=device)
    if cache_dir is None and folder.parent.name == CHECKPOINTS_DIR:
        cache_dir = folder.parent.parent  # the run folder, where training cached its caption embeddings
    text = config["text_encoder"]
    embedder = TextEmbedder(text["name"], device, clip_path or text.get("clip_path"), cache_dir)
    if embedder.dim != denoiser.config.text_dim or embedder.cache_key != text["cache_key"]:
        raise ValueError(
            f"text encoder {embedder.cache_key} (width {embedder.dim}) is not the one checkpoint {checkpoint} was "
            f"trained with ({text['cache_key']}, width {text['dim']}): pass the same CLIP folder as in training"
        )
    diffusion = GaussianDiffusion.cosine(config["diffusion"]["steps"], config["diffusion"]["prediction"])
    return TextToMotionModel(denoiser, diffusion, embedder, Normalizer.load(folder), config, folder)


def check_request(texts, lengths, max_frames: int) -> tuple[list[str], list[int]]:
    """Validate captions and lengths (frames at 20 fps); an int length applies to every caption."""
    if isinstance(texts, str):
        texts = [texts]
    if texts is None or len(texts) == 0:
        raise ValueError("no captions given: pass a non-empty list of texts, e.g. ['a person walks forward']")
    texts = list(texts)
    empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if empty:
        raise ValueError(f"captions must be non-empty strings; entries {empty[:5]} are not")
    if isinstance(lengths, (int, np.integer)) and not isinstance(lengths, bool):
        lengths = [int(lengths)] * len(texts)
    lengths = list(lengths)
    if len(lengths) != len(texts):
        raise ValueError(f"got {len(texts)} captions but {len(lengths)} lengths: give one length per caption")
    for length in lengths:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
            raise ValueError(f"lengths are whole frame counts at {FPS} fps, got {length!r}")
        if not MIN_GENERATE_FRAMES <= length <= max_frames:
            raise ValueError(
                f"length {length} frames ({length / FPS:g} s) is out of range: choose "
                f"{MIN_GENERATE_FRAMES}..{max_frames} frames ({MIN_GENERATE_FRAMES / FPS:g}-{max_frames / FPS:g} s)"
            )
    return texts, [int(n) for n in lengths]


def sample_features(
    model: TextToMotionModel | str | Path,
    texts: Sequence[str],
    lengths: int | Sequence[int],
    steps: int = DEFAULT_STEPS,
    guidance: float = DEFAULT_GUIDANCE,
    seed: int | None = None,
    sampler: str = "ddim",
    batch_size: int = GENERATE_BATCH,
    progress: bool = False,
) -> list[np.ndarray]:
    """Sample un-normalised HumanML3D features, one ``(length, 263)`` float32 array per caption.

    ``sampler="ddim"`` runs deterministic DDIM over ``steps`` respaced timesteps; ``"ddpm"`` runs ancestral
    sampling (with ``steps`` = the training T, 1000 by default, this is MDM's reference sampler). The result
    is a function of the model, the request, ``seed`` and ``batch_size``.
    """
    if not isinstance(model, TextToMotionModel):
        model = load_model(model)
    texts, lengths = check_request(texts, lengths, model.max_frames)
    sampler = Sampler(sampler)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    diffusion = model.diffusion.respace(steps)
    device = model.device
    embeddings = torch.from_numpy(model.embedder.embed(texts)).to(device)
    order = np.argsort(lengths, kind="stable")  # similar lengths share a batch: less padding
    results: list[np.ndarray | None] = [None] * len(texts)
    model.denoiser.eval()
    for chunk, start in enumerate(range(0, len(order), batch_size)):
        idx = order[start : start + batch_size]
        frames = max(lengths[i] for i in idx)
        mask = torch.tensor([[f < lengths[i] for f in range(frames)] for i in idx], device=device)
        generator = torch.Generator().manual_seed(int(np.random.default_rng([seed, chunk]).integers(2**62)))
        noise = torch.randn((len(idx), frames, FEATURE_DIM), generator=generator).to(device)
        denoise = guided_denoiser(model.denoiser, embeddings[torch.as_tensor(idx, device=device)], mask, guidance)
        with torch.inference_mode():
            x0 = diffusion.sample(denoise, noise, sampler, generator, progress=progress)
        features = model.normalizer.inverse(x0.float().cpu().numpy())
        for row, i in enumerate(idx):
            results[i] = features[row, : lengths[i]].astype(np.float32)
    return results


def generate(
    model: TextToMotionModel | str | Path,
    texts: Sequence[str],
    lengths: int | Sequence[int],
    steps: int = DEFAULT_STEPS,
    guidance: float = DEFAULT_GUIDANCE,
    seed: int | None = None,
    sampler: str = "ddim",
    batch_size: int = GENERATE_BATCH,
    progress: bool = False,
) -> list[Motion]:
    """Generate one ``Motion`` (20 fps, captioned) per text; ``lengths`` in frames (an int applies to all).

    ``model`` is a loaded ``TextToMotionModel`` or a checkpoint/run folder. Deterministic for a given seed.
    See ``sample_features`` for the sampler options.
    """
    if not isinstance(model, TextToMotionModel):
        model = load_model(model)
    texts, lengths = check_request(texts, lengths, model.max_frames)
    features = sample_features(model, texts, lengths, steps, guidance, seed, sampler, batch_size, progress)
    return [Motion.from_features(f, fps=FPS, text=t) for f, t in zip(features, texts, strict=True)]
