"""Run a self-consuming loop experiment (Algorithm 1 of Gillman et al. 2024, with a pluggable corrector).

Run folder::

    loop.json                       the config (a rerun must match it) and the command
    real.json                       metrics of the real test subset
    gen0_seed<S>/                   generation 0 (trained on the real subset only), shared by every arm of seed S
        checkpoints/ record.json showcase.npy
    arms/<arm>/gen_<g>/             one finished step of one arm:
        synthetic/                  the motions the model generated (features + texts.json)
        corrected/                  what joins the training set, with correction.jsonl (one record per motion)
        train/                      the fine-tuning run (checkpoints, log.csv)
        record.json                 metrics and statistics; written last, it marks the generation as done
    results.jsonl                   one row per arm and generation, rebuilt from the records
    plots/ gifs/ summary.md         see ``report.py``

Every stage writes atomically and is skipped when its output exists, so a killed run continues where it
stopped: nothing finished is redone, nothing half-written is read. Generation g of every arm is done before
generation g+1 of any, so arms stay comparable when a run is cut short. Finished generations older than
``keep_generations`` lose their checkpoints and synthetic sets (the records, which hold every number, stay).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.humanml3d import load_dataset
from ..evaluator.base import check_fingerprint, load_evaluator
from ..evaluator.suite import EvalSettings, evaluate, generate_motion_set, physics_summary, resolve_function
from ..generation import load_model, sample_features
from ..model.checkpoint import list_checkpoints
from ..motion.files import atomic_folder, exclusive_folder, remove_stale_temporaries, save_npy, write_text
from ..motion.skeleton import FPS
from ..training import MotionTextSet, TrainConfig, train
from .config import Arm, LoopConfig
from .correction import correct_synthetic, correction_stats

CONFIG_FILE = "loop.json"
RESULTS_FILE = "results.jsonl"
RECORD_FILE = "record.json"
SHOWCASE_FILE = "showcase.npy"
TEXTS_FILE = "texts.json"
CORRECTION_FILE = "correction.jsonl"
# Separate random streams per purpose, so e.g. the prompts do not change when the correction fraction does.
PROMPT_STREAM, SAMPLE_STREAM, CORRECT_STREAM, TRAIN_STREAM, EVAL_STREAM, SHOWCASE_STREAM = range(6)


def _seed(*parts: int) -> int:
    return int(np.random.default_rng(list(parts)).integers(2**31))


def save_set(folder: Path, features, texts, extra_files: dict[str, str] | None = None) -> None:
    """A motion set as ``<index>.npy`` files plus ``texts.json`` (and ``extra_files``), as one atomic folder."""
    with atomic_folder(folder) as tmp:
        for i, f in enumerate(features):
            np.save(tmp / f"{i:05d}.npy", np.asarray(f, np.float32))
        (tmp / TEXTS_FILE).write_text(json.dumps(list(texts)))
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)


def load_set(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    texts = json.loads((folder / TEXTS_FILE).read_text())
    return [np.load(folder / f"{i:05d}.npy") for i in range(len(texts))], texts


def _write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def _latest(run_dir: Path) -> Path:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise FileNotFoundError(f"{run_dir} holds no checkpoint")
    return checkpoints[-1]


class LoopRun:
    """One experiment in one folder; ``run()`` does (or continues) all of it."""

    def __init__(self, config: LoopConfig, out, progress: bool = True):
        self.config = config
        self.out = Path(out)
        self.progress = progress
        self._check_config()
        data = Path(config.data)
        real, self.normalizer = MotionTextSet.from_humanml3d(data, "train")
        if config.n is not None:
            if config.n > len(real):
                raise ValueError(f"n = {config.n} but {data} has only {len(real)} usable train clips")
            pick = np.sort(np.random.default_rng(config.subset_seed).choice(len(real), config.n, replace=False))
            real = MotionTextSet([real.features[i] for i in pick], [real.captions[i] for i in pick], real.source)
        self.real = real
        test = load_dataset(data, "test").entries
        if config.eval_size is not None and config.eval_size < len(test):
            pick = np.sort(np.random.default_rng(config.subset_seed).choice(len(test), config.eval_size, replace=False))
            test = [test[i] for i in pick]
        self.test = test
        self.settings = EvalSettings(
            repeats=config.eval_repeats,
            pool_size=config.eval_pool,
            diversity_pairs=config.eval_diversity_pairs,
            seed=config.subset_seed,
        )
        self.evaluator = load_evaluator(Path(config.evaluator or data / "evaluator"), config.device)
        check_fingerprint(self.evaluator, data)
        self.corrector = resolve_function(config.corrector)
        self.physics = resolve_function(config.physics)

    # -- folders -----------------------------------------------------------------------------------------------

    def gen0_dir(self, seed: int) -> Path:
        return self.out / f"gen0_seed{seed}"

    def step_dir(self, arm: Arm, generation: int) -> Path:
        return self.out / "arms" / arm.name / f"gen_{generation:03d}"

    def checkpoint(self, arm: Arm, generation: int) -> Path:
        run = self.gen0_dir(arm.seed) if generation == 0 else self.step_dir(arm, generation) / "train"
        return _latest(run)

    def record(self, arm: Arm, generation: int) -> dict | None:
        folder = self.gen0_dir(arm.seed) if generation == 0 else self.step_dir(arm, generation)
        path = folder / RECORD_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def _check_config(self) -> None:
        stored = self.out / CONFIG_FILE
        mine = self.config.to_dict()
        if stored.is_file():
            theirs = json.loads(stored.read_text())["config"]
            if theirs != json.loads(json.dumps(mine)):
                changed = sorted(k for k in mine if json.dumps(mine[k]) != json.dumps(theirs.get(k)))
                raise ValueError(
                    f"{self.out} holds a loop run with other settings (differing: {changed}): "
                    "resume with the same settings or choose another --out"
                )

    # -- the stages --------------------------------------------------------------------------------------------

    def train_config(self, steps: int, seed: int) -> TrainConfig:
        c = self.config
        return TrainConfig(
            preset=c.preset,
            text_encoder=c.text_encoder,
            clip_path=c.clip_path,
            steps=steps,
            batch_size=c.batch_size,
            lr=c.lr,
            ema_decay=c.ema_decay,
            seed=seed,
            save_every=max(1, steps // 4),
            log_every=max(1, min(50, steps // 4)),
            keep_checkpoints=1,
        )

    def evaluate(self, checkpoint: Path, generation: int, seed: int) -> dict:
        """The evaluation suite's metrics (mean and 95 % interval) of motions generated from ``checkpoint``."""
        c = self.config
        model = load_model(checkpoint, c.device)
        motions = generate_motion_set(
            model, self.test, seed=_seed(seed, generation, EVAL_STREAM), steps=c.eval_steps, guidance=c.eval_guidance
        )
        rows = evaluate(self.evaluator, self.test, motions, self.settings, physics=c.physics)
        if not (self.out / "real.json").is_file():
            _write_json(self.out / "real.json", {k: v.to_dict(False) for k, v in rows["real"].items()})
        return {k: v.to_dict(with_values=False) for k, v in rows["model"].items()}

    def showcase(self, checkpoint: Path, folder: Path, seed: int) -> None:
        """The same prompts, noise and length at every showcased generation, for the GIFs."""
        c = self.config
        frames = int(round(c.showcase_seconds * FPS))
        features = sample_features(
            load_model(checkpoint, c.device),
            list(c.showcase_prompts),
            frames,
            steps=c.eval_steps,
            guidance=c.eval_guidance,
            seed=_seed(seed, SHOWCASE_STREAM),
        )
        save_npy(folder / SHOWCASE_FILE, np.stack(features))

    def generation_zero(self, seed: int) -> None:
        c = self.config
        folder = self.gen0_dir(seed)
        if (folder / RECORD_FILE).is_file():
            return
        started = time.perf_counter()
        checkpoint = train(
            self.real,
            folder,
            self.train_config(c.gen0_steps, _seed(seed, 0, TRAIN_STREAM)),
            self.normalizer,
            cache_dir=self.out,
            device=c.device,
            progress=self.progress,
        )
        train_seconds = time.perf_counter() - started
        record = {"generation": 0, "seed": seed, "train_seconds": train_seconds, "real": len(self.real)}
        if 0 in c.showcased_generations:
            self.showcase(checkpoint, folder, seed)
        record["eval"] = self.evaluate(checkpoint, 0, seed)
        _write_json(folder / RECORD_FILE, record)

    def synthesize(self, arm: Arm, generation: int, folder: Path) -> None:
        """floor(lambda n) motions from the previous model, prompted with captions of random real train clips."""
        c = self.config
        count = int(math.floor(arm.lam * len(self.real)))
        rng = np.random.default_rng([arm.seed, generation, PROMPT_STREAM])
        ids = np.concatenate([rng.permutation(len(self.real)) for _ in range(count // len(self.real) + 1)])[:count]
        texts = [self.real.captions[i][rng.integers(len(self.real.captions[i]))] for i in ids]
        low, high = c.synthetic_frames
        lengths = [int(np.clip(self.real.lengths[i], low, high)) for i in ids]
        model = load_model(self.checkpoint(arm, generation - 1), c.device)
        lengths = [min(n, model.max_frames) for n in lengths]
        features = sample_features(
            model,
            texts,
            lengths,
            steps=c.sampling_steps,
            guidance=c.guidance,
            seed=_seed(arm.seed, generation, SAMPLE_STREAM),
            sampler=c.sampler,
            progress=False,
        )
        save_set(folder, features, texts)

    def correct(self, arm: Arm, generation: int, source: Path, folder: Path) -> None:
        c = self.config
        features, texts = load_set(source)
        rng = np.random.default_rng([arm.seed, generation, CORRECT_STREAM])
        corrector = self.corrector if arm.corrected_fraction > 0 else None
        result = correct_synthetic(
            features, texts, arm.corrected_fraction, rng, corrector, c.corrector_options, c.on_failure, c.max_falls
        )
        records = "".join(json.dumps(r) + "\n" for r in result.records)
        save_set(folder, result.features, result.texts, {CORRECTION_FILE: records})

    def training_set(self, arm: Arm, generation: int) -> MotionTextSet:
        features, captions = list(self.real.features), list(self.real.captions)
        if arm.kind != "baseline":
            first = 1 if self.config.synthetic == "accumulate" else generation
            for g in range(first, generation + 1):
                synthetic, texts = load_set(self.step_dir(arm, g) / "corrected")
                features += synthetic
                captions += [[t] for t in texts]
        return MotionTextSet(features, captions, source=f"{arm.name} generation {generation}")

    def step(self, arm: Arm, generation: int) -> None:
        """Generation ``generation`` of ``arm``: synthesize, correct, fine-tune, measure."""
        c = self.config
        folder = self.step_dir(arm, generation)
        if (folder / RECORD_FILE).is_file():
            return
        record = {"generation": generation, "arm": arm.name, "kind": arm.kind, "seed": arm.seed, "lam": arm.lam}
        record["gamma"] = "inf" if math.isinf(arm.gamma) else arm.gamma
        record["corrected_fraction"] = arm.corrected_fraction if arm.kind != "baseline" else 0.0
        if arm.kind != "baseline":
            if not (folder / "synthetic").is_dir():
                self.synthesize(arm, generation, folder / "synthetic")
            if not (folder / "corrected").is_dir():
                self.correct(arm, generation, folder / "synthetic", folder / "corrected")
            records = [json.loads(line) for line in (folder / "corrected" / CORRECTION_FILE).read_text().splitlines()]
            record["correction"] = correction_stats(records)
            record["synthetic_physics"] = self._physics_means(load_set(folder / "synthetic")[0])
            record["training_synthetic_physics"] = self._physics_means(load_set(folder / "corrected")[0])
        data = self.training_set(arm, generation)
        started = time.perf_counter()
        checkpoint = train(
            data,
            folder / "train",
            self.train_config(c.steps_per_generation, _seed(arm.seed, generation, TRAIN_STREAM)),
            init_from=self.checkpoint(arm, generation - 1),
            cache_dir=self.out,
            device=c.device,
            progress=False,
            carry_optimizer=c.optimizer == "carry",
        )
        record.update(train_seconds=time.perf_counter() - started, training_clips=len(data))
        if generation in c.showcased_generations:
            self.showcase(checkpoint, folder, arm.seed)
        if generation in c.evaluated_generations:
            record["eval"] = self.evaluate(checkpoint, generation, arm.seed)
        _write_json(folder / RECORD_FILE, record)

    def _physics_means(self, features) -> dict:
        """Mean of each physics metric over a synthetic set (empty when every motion was dropped)."""
        return {k: v.mean for k, v in physics_summary(features, self.physics).items()} if features else {}

    def prune(self, generation: int) -> None:
        """Drop checkpoints and synthetic sets of generations that no later stage needs."""
        old = generation - self.config.keep_generations
        if old < 1:
            return
        for arm in self.config.arms:
            folder = self.step_dir(arm, old)
            if not (folder / RECORD_FILE).is_file():
                continue
            shutil.rmtree(folder / "train" / "checkpoints", ignore_errors=True)
            shutil.rmtree(folder / "synthetic", ignore_errors=True)
            if self.config.synthetic == "replace":
                shutil.rmtree(folder / "corrected", ignore_errors=True)

    # -- results -----------------------------------------------------------------------------------------------

    def results(self) -> list[dict]:
        """One row per arm and finished generation (generation 0 rows come from the shared gen-0 record)."""
        rows = []
        for arm in self.config.arms:
            for generation in range(self.config.generations + 1):
                record = self.record(arm, generation)
                if record is None:
                    continue
                row = {**record, "arm": arm.name, "label": arm.label, "kind": arm.kind, "seed": arm.seed}
                row.update(lam=arm.lam, gamma="inf" if math.isinf(arm.gamma) else arm.gamma)
                rows.append(row)
        return rows

    def write_results(self) -> Path:
        path = self.out / RESULTS_FILE
        write_text(path, "".join(json.dumps(row) + "\n" for row in self.results()))
        return path

    def run(self) -> Path:
        """Do every unfinished stage, then return the results file."""
        c = self.config
        with exclusive_folder(self.out, "self-consuming loop"):
            if not (self.out / CONFIG_FILE).is_file():  # written once everything loaded: a failed start binds nothing
                _write_json(self.out / CONFIG_FILE, {"config": c.to_dict(), "command": sys.argv})
            remove_stale_temporaries(self.out)  # half-written files of a run that was killed
            arms = c.arms
            total = len(c.seeds) + c.generations * len(arms)
            bar = tqdm(total=total, desc="self-consuming loop", unit="step", disable=not self.progress)
            for seed in c.seeds:
                bar.set_postfix_str(f"generation 0, seed {seed}")
                self.generation_zero(seed)
                bar.update(1)
            self.write_results()
            for generation in range(1, c.generations + 1):
                for arm in arms:
                    bar.set_postfix_str(f"generation {generation}, {arm.name}")
                    self.step(arm, generation)
                    bar.update(1)
                self.write_results()
                self.prune(generation)
            bar.close()
            return self.write_results()
