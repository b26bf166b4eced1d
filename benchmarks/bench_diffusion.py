"""Diffusion benchmarks, written as JSON (not a test): sampling throughput DDPM-1000 vs DDIM-50, training speed.

    .venv/bin/python benchmarks/bench_diffusion.py --data data/embedded --ckpt RUN --out bench.json

Sampling runs both samplers on the same checkpoint, captions, lengths and seed in one process, reports
motion-seconds generated per wall-second and their ratio, and compares each sampler's feature statistics with
the test split (per-dimension mean and std errors in units of the model's Std). Training reports steps per
second for ``tiny`` on the CPU and, when a GPU is present, for ``mdm`` on it.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from motion_diffusion.diffusion import GaussianDiffusion
from motion_diffusion.generation import TextToMotionModel, load_model, sample_features
from motion_diffusion.model import ModelConfig, MotionDenoiser
from motion_diffusion.motion.files import write_text
from motion_diffusion.motion.skeleton import FPS
from motion_diffusion.text import TextEmbedder
from motion_diffusion.training import MotionTextSet, TrainConfig, Trainer

WARMUP_STEPS = 3


def untrained_model(data_root, preset: str, device) -> TextToMotionModel:
    """A randomly initialised model (for throughput only) with the dataset's Mean/Std."""
    from motion_diffusion.motion.normalize import Normalizer

    embedder = TextEmbedder("minilm", device)
    denoiser = MotionDenoiser(ModelConfig.from_preset(preset, embedder.dim)).to(device).eval()
    return TextToMotionModel(denoiser, GaussianDiffusion.cosine(), embedder, Normalizer.load(data_root), {})


def feature_stats(generated: list[np.ndarray], reference: list[np.ndarray], std: np.ndarray) -> dict:
    """|mean difference| and |std difference| per dimension in units of the model's Std, averaged over the
    263 dimensions (frames pooled); 0 means the same first two moments as the reference."""
    gen, ref = np.concatenate(generated), np.concatenate(reference)
    return {
        "mean_abs_error_in_std": float(np.mean(np.abs(gen.mean(0) - ref.mean(0)) / std)),
        "std_abs_error_in_std": float(np.mean(np.abs(gen.std(0) - ref.std(0)) / std)),
    }


def bench_sampling(model: TextToMotionModel, test: MotionTextSet, train: MotionTextSet, batch: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(test), size=min(batch, len(test)), replace=False)
    texts = [test.captions[k][0] for k in picks]
    lengths = [int(min(test.lengths[k], model.max_frames)) for k in picks]
    model.embedder.embed(texts)  # text encoding is not part of the sampling time
    results = {
        "batch": len(texts),
        "motion_seconds": sum(lengths) / FPS,
        "train_split_vs_test_split": feature_stats(train.features, test.features, model.normalizer.std),
    }
    for name, sampler, steps in (("ddpm_1000", "ddpm", model.diffusion.num_steps), ("ddim_50", "ddim", 50)):
        start = time.perf_counter()
        features = sample_features(model, texts, lengths, steps=steps, seed=seed, sampler=sampler, progress=True)
        wall = time.perf_counter() - start
        results[name] = {
            "steps": steps,
            "wall_s": wall,
            "motion_s_per_wall_s": results["motion_seconds"] / wall,
            "vs_test_split": feature_stats(features, test.features, model.normalizer.std),
        }
    results["ddim50_speedup"] = results["ddim_50"]["motion_s_per_wall_s"] / results["ddpm_1000"]["motion_s_per_wall_s"]
    return results


def bench_training(data: MotionTextSet, normalizer, preset: str, device, steps: int, batch: int, cache) -> dict:
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(preset=preset, steps=WARMUP_STEPS + steps, batch_size=batch, save_every=10**9)
        trainer = Trainer(data, out, config, normalizer, cache_dir=cache, device=device, progress=False)
        for _ in range(WARMUP_STEPS):
            trainer.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    return {
        "preset": preset,
        "device": str(trainer.device),
        "batch": trainer.batch_size,
        "steps": steps,
        "steps_per_s": steps / wall,
        "threads": torch.get_num_threads(),
    }


DEFAULT_CKPT = Path("runs/tiny")  # the `make train` model, when it exists


def run(
    data="data/embedded",
    ckpt=None,
    batch: int = 16,
    train_steps: int = 20,
    train_batch: int = 64,
    seed: int = 0,
) -> dict:
    """Sampling throughput (DDPM-1000 vs DDIM-50, one checkpoint, one batch) and training steps per second."""
    if ckpt is None and DEFAULT_CKPT.is_dir():
        ckpt = DEFAULT_CKPT
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(ckpt, device=device) if ckpt else untrained_model(data, "tiny", device)
    test, _ = MotionTextSet.from_humanml3d(data, "test")
    train_set, normalizer = MotionTextSet.from_humanml3d(data, "train")
    report = {
        "checkpoint": str(model.checkpoint) if model.checkpoint else None,
        "preset": model.denoiser.config.preset,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "sampling": bench_sampling(model, test, train_set, batch, seed),
        "training": [],
    }
    with tempfile.TemporaryDirectory() as cache:
        presets = [("tiny", "cpu")] + ([("mdm", "cuda")] if device.type == "cuda" else [])
        for preset, where in presets:
            timing = bench_training(train_set, normalizer, preset, where, train_steps, train_batch, cache)
            report["training"].append(timing)
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/embedded", help="HumanML3D-layout folder (train and test splits)")
    parser.add_argument("--ckpt", help="checkpoint or run folder (default: runs/tiny, else an untrained tiny model)")
    parser.add_argument("--out", default="benchmarks/results/diffusion.json")
    parser.add_argument("--batch", type=int, default=16, help="motions per sampling batch")
    parser.add_argument("--train-steps", type=int, default=20, help="timed training steps per preset")
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = run(args.data, args.ckpt, args.batch, args.train_steps, args.train_batch, args.seed)
    write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
