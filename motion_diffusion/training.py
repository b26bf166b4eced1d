"""Training loop: AdamW, EMA, gradient clipping, bf16 autocast on GPU, length-bucketed batches, exact resume, DDP.

Randomness is derived from ``(seed, step, rank)`` at every step (data crops, captions, timesteps, noise,
condition dropout, dropout) and the batch order from ``(seed, epoch)``, so the step number is the whole
data-order and RNG state: resuming from a checkpoint reproduces an uninterrupted run exactly.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .diffusion import GaussianDiffusion
from .model import MotionDenoiser
from .model.checkpoint import (
    CHECKPOINTS_DIR,
    EMA_FILE,
    MODEL_FILE,
    check_compatible,
    checkpoint_name,
    list_checkpoints,
    load_state,
    load_weights,
    read_config,
    resolve_checkpoint,
    save_checkpoint,
)
from .model.presets import PRESETS, ModelConfig
from .motion.checks import check_features
from .motion.files import remove_stale_temporaries, write_text
from .motion.normalize import Normalizer
from .motion.skeleton import FEATURE_DIM, MIN_FRAMES, UNIT_LENGTH
from .text import TEXT_ENCODERS, TextEmbedder

BUCKET_BATCHES = 16  # batches per length-sorted chunk: bigger groups similar lengths better, shuffles less
SHORTER_CROP_PROB = 1 / 3  # HumanML3D loaders drop one more length unit with this probability
LR_SCHEDULES = ("constant", "cosine")
EMA_WARMUP = 10  # EMA decay is min(decay, (1 + step) / (EMA_WARMUP + step)) so early averages are not stale
LOG_FILE = "log.csv"
RUN_FILE = "run.json"


@dataclass
class TrainConfig:
    """Training settings; stored in the run folder and in every checkpoint."""

    preset: str = "tiny"
    text_encoder: str = "minilm"
    clip_path: str | None = None
    steps: int = 10_000
    batch_size: int = 64
    lr: float = 1e-4
    lr_schedule: str = "constant"  # or "cosine": from lr down to 0 at ``steps``
    weight_decay: float = 0.0
    ema_decay: float = 0.9999
    grad_clip: float = 1.0
    cond_drop: float = 0.1
    diffusion_steps: int = 1000
    prediction: str = "x0"
    seed: int = 0
    save_every: int = 1000
    log_every: int = 50
    keep_checkpoints: int = 2
    amp: bool = True
    max_minutes: float | None = None  # wall-clock budget: stop early (with a checkpoint) once it is spent

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown model preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(f"unknown text encoder {self.text_encoder!r}; choose one of {list(TEXT_ENCODERS)}")
        for name in ("steps", "batch_size", "diffusion_steps", "save_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.cond_drop < 1 or not 0 <= self.ema_decay < 1:
            raise ValueError("cond_drop and ema_decay must lie in [0, 1)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {LR_SCHEDULES}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive (or None for no limit), got {self.max_minutes}")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class MotionTextSet:
    """Training clips: un-normalised features ``(T, 263)`` with one or more captions each.

    Clips shorter than ``MIN_FRAMES`` or without captions are not usable and are dropped; longer clips are
    cropped at random to the model's maximum length at every step.
    """

    def __init__(self, features: Sequence[np.ndarray], captions: Sequence[Sequence[str]], source: str = "clips"):
        if len(features) != len(captions):
            raise ValueError(f"got {len(features)} feature arrays but {len(captions)} caption lists")
        self.features: list[np.ndarray] = []
        self.captions: list[list[str]] = []
        for i, (feats, texts) in enumerate(zip(features, captions, strict=True)):
            feats = check_features(feats, name=f"{source} clip {i}").astype(np.float32)
            texts = [t for t in texts if isinstance(t, str) and t.strip()]
            if len(feats) >= MIN_FRAMES and texts:
                self.features.append(feats)
                self.captions.append(texts)
        if not self.features:
            raise ValueError(
                f"{source} has no usable clip (each needs >= {MIN_FRAMES} frames and a non-empty caption): "
                "check the folder and split, or regenerate the data with `make data`"
            )
        self.source = source
        self.lengths = np.array([len(f) for f in self.features])

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def from_humanml3d(cls, root, split: str = "train") -> tuple[MotionTextSet, Normalizer]:
        """Load one split of a HumanML3D-layout folder and its frozen Mean/Std."""
        from .data.humanml3d import load_dataset

        dataset = load_dataset(root, split=split, strict=False)
        if dataset.normalizer is None:
            raise ValueError(f"{root} has no Mean.npy/Std.npy: compute them from the train split first")
        features = [e.features for e in dataset.entries]
        captions = [[c.text for c in e.captions] for e in dataset.entries]
        return cls(features, captions, source=f"{root} ({split} split)"), dataset.normalizer


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Length-bucketed batches of one epoch: shuffle, sort chunks by length, cut, shuffle the batches.

    Only full batches are kept (the left-overs change every epoch); ``batch_size`` must not exceed the data.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    chunk = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[j : j + batch_size] for j in range(0, len(part) - batch_size + 1, batch_size)]
    return [batches[k] for k in rng.permutation(len(batches))]


def crop_length(length: int, max_frames: int, rng: np.random.Generator) -> int:
    """HumanML3D's training crop length: a multiple of UNIT_LENGTH, sometimes one unit shorter."""
    units = min(length, max_frames) // UNIT_LENGTH
    if units > 1 and rng.random() < SHORTER_CROP_PROB:
        units -= 1
    return units * UNIT_LENGTH


class Trainer:
    """One training run (one process of a DDP group, or the only process)."""

    def __init__(
        self,
        data: MotionTextSet,
        out_dir,
        config: TrainConfig,
        normalizer: Normalizer | None = None,
        init_from=None,
        cache_dir=None,
        device=None,
        progress: bool = True,
        carry_optimizer: bool = False,
    ):
        self.config = config
        self.data = data
        self.out_dir = Path(out_dir)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.progress = progress and self.rank == 0

        if self.rank == 0:
            remove_stale_temporaries(self.out_dir)  # half-written files of a run that was killed
        resume = list_checkpoints(self.out_dir)
        source = resume[-1] if resume else init_from
        source_config = None
        if source is not None:
            source = resolve_checkpoint(source)
            source_config = read_config(source)
            check_compatible(source_config, config.preset, config.text_encoder, where=str(source))
            frozen = Normalizer.load(source)
            if normalizer is not None and not _same_stats(normalizer, frozen):
                raise ValueError(
                    f"the Mean/Std given differ from those of checkpoint {source}; a model must keep the "
                    "normalisation it was trained with: pass no normalizer, or train into a fresh folder"
                )
            normalizer = frozen
        if normalizer is None:
            raise ValueError("training needs the real-data Mean/Std: pass a normalizer or a checkpoint to start from")
        self.normalizer = normalizer

        self.embedder = self._embed_captions(cache_dir or self.out_dir)
        self.model_config = ModelConfig.from_preset(config.preset, self.embedder.dim)
        if source_config is not None:
            if ModelConfig.from_dict(source_config["model"]) != self.model_config:
                raise ValueError(f"checkpoint {source} has a different model config than preset {config.preset!r}")
            if source_config["text_encoder"]["cache_key"] != self.embedder.cache_key:
                raise ValueError(
                    f"checkpoint {source} was trained with other {config.text_encoder} weights "
                    f"({source_config['text_encoder']['cache_key']}): pass the same --clip-path as before"
                )
        self.diffusion = GaussianDiffusion.cosine(config.diffusion_steps, config.prediction)

        torch.manual_seed(config.seed)
        self.model = MotionDenoiser(self.model_config).to(self.device)
        if self.model_config.whiten_text:
            self.model.fit_text_whitening(self.text_table)  # replaced by the stored one when loading a checkpoint
        self.ema = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.step = 0
        if resume:
            self._load(resume[-1], with_state=True)
        elif init_from is not None:
            self._load(init_from, with_state=False, with_optimizer=carry_optimizer)
        self.ddp_model = self.model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

        self.batch_size = min(config.batch_size, len(data) // self.world)
        if self.batch_size < 1:
            raise ValueError(f"{len(data)} usable clips cannot feed {self.world} processes: add data")
        self.batches_per_epoch = len(epoch_batches(data.lengths, self.batch_size, config.seed, 0)) // self.world
        self._epoch_cache: tuple[int, list[np.ndarray]] | None = None

    # -- setup -----------------------------------------------------------------------------------------------

    def _embed_captions(self, cache_dir) -> TextEmbedder:
        """Embed every distinct caption once (rank 0 first, writing the disk cache the other ranks read)."""
        config = self.config
        unique = list(dict.fromkeys(t for texts in self.data.captions for t in texts))
        if self.rank == 0:
            embedder = TextEmbedder(config.text_encoder, self.device, config.clip_path, cache_dir)
            table = embedder.embed(unique, progress=self.progress)
            embedder.save()
        if self.distributed:
            dist.barrier()
        if self.rank != 0:
            embedder = TextEmbedder(config.text_encoder, self.device, config.clip_path, cache_dir)
            table = embedder.embed(unique)
        row = {t: i for i, t in enumerate(unique)}
        self.text_table = torch.from_numpy(table).to(self.device)
        self.caption_rows = [np.array([row[t] for t in texts]) for texts in self.data.captions]
        return embedder

    def _load(self, checkpoint, with_state: bool, with_optimizer: bool = False) -> None:
        """Weights and EMA; with ``with_state`` also the optimiser and step (resume), with ``with_optimizer``
        only the optimiser (fine-tuning that carries AdamW's moments over)."""
        checkpoint = resolve_checkpoint(checkpoint)
        self.model.load_state_dict(load_weights(checkpoint, MODEL_FILE))
        source = load_weights(checkpoint, EMA_FILE if (checkpoint / EMA_FILE).is_file() else MODEL_FILE)
        self.ema = {n: source[n].to(self.device).clone() for n in self.ema}
        if with_state or with_optimizer:
            state = load_state(checkpoint)
            self.optimizer.load_state_dict(state["optimizer"])
            for group in self.optimizer.param_groups:  # the new run's settings win over the stored ones
                group["lr"], group["weight_decay"] = self.config.lr, self.config.weight_decay
        if with_state:
            self.step = int(state["step"])

    # -- one step --------------------------------------------------------------------------------------------

    def _batch_indices(self, step: int) -> np.ndarray:
        epoch, position = divmod(step, self.batches_per_epoch)
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            self._epoch_cache = (epoch, epoch_batches(self.data.lengths, self.batch_size, self.config.seed, epoch))
        return self._epoch_cache[1][position * self.world + self.rank]

    def make_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised, zero-padded features ``(B, frames, 263)``, their mask, and text embeddings, for ``step``."""
        rng = np.random.default_rng([self.config.seed, step, self.rank])
        indices = self._batch_indices(step)
        max_frames = self.model_config.max_frames
        crops, rows = [], []
        for k in indices:
            feats = self.data.features[k]
            length = crop_length(len(feats), max_frames, rng)
            start = int(rng.integers(0, len(feats) - length + 1))
            crops.append(self.normalizer(feats[start : start + length]))
            rows.append(int(rng.choice(self.caption_rows[k])))
        frames = max(len(c) for c in crops)
        x0 = np.zeros((len(crops), frames, FEATURE_DIM), np.float32)
        mask = np.zeros((len(crops), frames), bool)
        for b, crop in enumerate(crops):
            x0[b, : len(crop)] = crop
            mask[b, : len(crop)] = True
        text = self.text_table[torch.as_tensor(rows, device=self.device)]
        return torch.from_numpy(x0).to(self.device), torch.from_numpy(mask).to(self.device), text

    def learning_rate(self) -> float:
        """The learning rate of the coming step (a function of the step only, so resuming keeps the schedule)."""
        config = self.config
        if config.lr_schedule == "cosine":
            return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(self.step, config.steps) / config.steps))
        return config.lr

    def train_step(self) -> tuple[float, float]:
        """One optimisation step; returns (loss, gradient norm before clipping)."""
        config = self.config
        torch.manual_seed(int(np.random.default_rng([config.seed, self.step, self.rank]).integers(2**62)))
        x0, mask, text = self.make_batch(self.step)
        batch = x0.shape[0]
        t = torch.randint(0, self.diffusion.num_steps, (batch,), device=self.device)
        noise = torch.randn_like(x0)
        drop_text = torch.rand(batch, device=self.device) < config.cond_drop
        x_t = self.diffusion.q_sample(x0, t, noise)
        use_amp = config.amp and self.device.type == "cuda"
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_amp):
            output = self.ddp_model(x_t, t, text, mask, drop_text)
        loss = self.diffusion.training_loss(output, x0, noise, mask)
        self.optimizer.zero_grad(set_to_none=True)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        self.step += 1
        decay = min(config.ema_decay, (1 + self.step) / (EMA_WARMUP + self.step))
        with torch.no_grad():
            for name, parameter in self.model.named_parameters():
                self.ema[name].lerp_(parameter, 1 - decay)
        return loss.detach().item(), grad_norm.item()

    # -- the loop --------------------------------------------------------------------------------------------

    def checkpoint_config(self) -> dict:
        return {
            "model": self.model_config.to_dict(),
            "diffusion": {
                "schedule": "cosine",
                "steps": self.config.diffusion_steps,
                "prediction": self.config.prediction,
            },
            "text_encoder": {
                "name": self.config.text_encoder,
                "dim": self.embedder.dim,
                "cache_key": self.embedder.cache_key,
                "clip_path": self.config.clip_path,
            },
            "train": asdict(self.config),
            "step": self.step,
            "data": {"source": self.data.source, "clips": len(self.data)},
        }

    def save(self) -> Path:
        """Write ``checkpoints/step_<step>`` (rank 0) and drop all but the newest ``keep_checkpoints``."""
        folder = self.out_dir / CHECKPOINTS_DIR / checkpoint_name(self.step)
        if self.rank == 0:
            state = {"optimizer": self.optimizer.state_dict(), "step": self.step}
            save_checkpoint(folder, self.checkpoint_config(), self.model, self.normalizer, self.ema, state)
            for old in list_checkpoints(self.out_dir)[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        if self.distributed:
            dist.barrier()
        return folder

    def run(self) -> Path:
        """Train up to ``config.steps`` (continuing from the latest checkpoint) and return the last checkpoint."""
        config = self.config
        if self.rank == 0:
            self._write_run_file()
        log = _CsvLog(self.out_dir / LOG_FILE, self.step) if self.rank == 0 else None
        bar = tqdm(total=config.steps, initial=self.step, desc="train", disable=not self.progress, unit="step")
        losses, norms, started, last = [], [], time.perf_counter(), None
        deadline = None if config.max_minutes is None else started + 60 * config.max_minutes
        while self.step < config.steps:
            loss, grad_norm = self.train_step()
            losses.append(loss)
            norms.append(grad_norm)
            bar.update(1)
            out_of_time = deadline is not None and self._agree(time.perf_counter() > deadline)
            final = self.step == config.steps or out_of_time
            if self.step % config.log_every == 0 or final:
                elapsed = time.perf_counter() - started
                row = {
                    "step": self.step,
                    "loss": float(np.mean(losses)),
                    "grad_norm": float(np.mean(norms)),
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "steps_per_s": len(losses) / max(elapsed, 1e-9),
                }
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                if log is not None:
                    log.write(row)
                losses, norms, started = [], [], time.perf_counter()
            if self.step % config.save_every == 0 or final:
                last = self.save()
            if out_of_time:
                tqdm.write(f"stopped at step {self.step}: the {config.max_minutes:g}-minute budget is spent")
                break
        bar.close()
        if last is None:  # nothing left to train: the latest checkpoint is the result
            last = list_checkpoints(self.out_dir)[-1] if list_checkpoints(self.out_dir) else self.save()
        return last

    def _agree(self, flag: bool) -> bool:
        """Rank 0's decision, shared by every rank (so all ranks stop at the same step)."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def _write_run_file(self) -> None:
        run = {"train": asdict(self.config), "data": self.data.source, "command": sys.argv, "world_size": self.world}
        write_text(self.out_dir / RUN_FILE, json.dumps(run, indent=2) + "\n")


def _same_stats(a: Normalizer, b: Normalizer) -> bool:
    return np.array_equal(a.mean, b.mean) and np.array_equal(a.std, b.std)


class _CsvLog:
    """Append-only CSV of training metrics; rows after the resumed step (from an interrupted run) are dropped."""

    COLUMNS = ("step", "loss", "grad_norm", "lr", "steps_per_s")

    def __init__(self, path: Path, step: int):
        self.path = path
        kept = []
        if path.is_file():
            with open(path, newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, self.COLUMNS)
            writer.writeheader()
            writer.writerows(kept)

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.COLUMNS).writerow(row)


def train(
    data: MotionTextSet,
    out_dir,
    config: TrainConfig,
    normalizer: Normalizer | None = None,
    init_from=None,
    cache_dir=None,
    device=None,
    progress: bool = True,
    carry_optimizer: bool = False,
) -> Path:
    """Train (or continue training) a text-to-motion diffusion model; returns the final checkpoint folder.

    :param normalizer: frozen real-data Mean/Std; defaults to the one stored in ``init_from``.
    :param init_from: checkpoint to start from (fine-tuning: weights and EMA, fresh optimiser). Ignored when
        ``out_dir`` already holds checkpoints: training then resumes exactly from the latest one.
    :param cache_dir: where the caption-embedding cache lives (default: ``out_dir``).
    :param carry_optimizer: with ``init_from``, also continue its AdamW state instead of a fresh optimiser.
    Under ``torchrun`` (an initialised process group) every process calls this; rank 0 writes files.
    """
    trainer = Trainer(data, out_dir, config, normalizer, init_from, cache_dir, device, progress, carry_optimizer)
    return trainer.run()


def init_distributed() -> bool:
    """Join the process group that ``torchrun`` describes in the environment; False when not under torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True
