"""The evaluation protocol: the standard table for the real test split and for a set of generated motions.

Per repetition r (generator ``draw_rng(seed, r)``): a reference draw of the test split (one random caption
and one random HumanML3D crop per entry) gives the real motion embeddings FID is measured against; a
second, independent draw is the "real" row (so its FID is the real-vs-real floor); the generated set is
scored against the same reference. R-precision, matching score, diversity and multimodality draw their
pools and pairs from the same generator. The generated set is fixed across repetitions unless one set per
repetition is given (MDM regenerates every repetition; on a CPU the generation dominates the cost).

Physics metrics are per motion, on the joints recovered from the features, averaged over the set; the
function is taken by import path (``DEFAULT_PHYSICS``) so that ``motion_diffusion`` never imports
``physics_correct``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.humanml3d import Caption, Entry, load_dataset, read_captions, read_features, write_clip
from ..motion.checks import check_features
from ..motion.features import features_to_joints
from ..motion.files import write_text
from ..motion.skeleton import FEATURE_DIM, FPS, UNIT_LENGTH
from .base import Evaluator, check_fingerprint, evaluation_length, load_evaluator, random_draw
from .metrics import (
    DIVERSITY_PAIRS,
    MM_PAIRS,
    MM_SAMPLES,
    POOL_SIZE,
    REPEATS,
    TOP_K,
    Summary,
    diversity,
    draw_rng,
    fid,
    multimodality,
    r_precision,
    summarize,
)

DEFAULT_PHYSICS = "physics_correct.metrics:physics_metrics"
NO_PHYSICS = "none"
MULTIMODALITY_DIR = "multimodality"
REAL_ROW = "Real (test)"
GENERATION_STREAM = 7919  # separates the caption choice for generation from the metric draws
TABLE_COLUMNS = (("R@1", "R@1"), ("R@2", "R@2"), ("R@3", "R@3"), ("FID", "fid"), ("MM-Dist", "matching"),
                 ("Diversity", "diversity"), ("MModality", "multimodality"))  # fmt: skip


@dataclass(frozen=True)
class EvalSettings:
    """The protocol's counts (defaults: the standard protocol, MultiModality pairs included)."""

    repeats: int = REPEATS
    pool_size: int = POOL_SIZE
    top_k: int = TOP_K
    diversity_pairs: int = DIVERSITY_PAIRS
    mm_pairs: int = MM_PAIRS
    seed: int = 0

    def __post_init__(self):
        if self.repeats < 1 or self.pool_size < 2 or not 1 <= self.top_k <= self.pool_size:
            raise ValueError(f"need repeats >= 1, pool_size >= 2 and 1 <= top_k <= pool_size, got {self}")
        if self.diversity_pairs < 1 or self.mm_pairs < 1:
            raise ValueError(f"diversity and multimodality pair counts must be positive, got {self}")


@dataclass
class MotionSet:
    """Generated motions (un-normalised ``(T, 263)`` features), each with the caption it was generated from.

    ``multimodality`` optionally holds ``(caption, motions)`` pairs: several motions generated from one
    caption, the same number for every caption.
    """

    features: list[np.ndarray]
    captions: list[Caption]
    multimodality: list[tuple[Caption, list[np.ndarray]]] = field(default_factory=list)

    def __post_init__(self):
        if len(self.features) != len(self.captions):
            counts = f"{len(self.features)} motions but {len(self.captions)} captions"
            raise ValueError(f"{counts}: give one caption per motion")
        self.features = [_checked(f, f"generated motion {i}") for i, f in enumerate(self.features)]
        self.multimodality = [
            (caption, [_checked(f, f"multimodality motion {s} of caption {k}") for s, f in enumerate(group)])
            for k, (caption, group) in enumerate(self.multimodality)
        ]
        if len({len(group) for _, group in self.multimodality}) > 1:
            raise ValueError("every multimodality caption needs the same number of generated motions")

    def __len__(self) -> int:
        return len(self.features)


def _checked(features, name: str) -> np.ndarray:
    array = check_features(features, min_frames=UNIT_LENGTH, name=name)
    if array.ndim != 2:
        raise ValueError(f"{name} must be one clip of shape (T, {FEATURE_DIM}), got {array.shape}")
    return array.astype(np.float32)


def _read_layout(folder: Path) -> tuple[list[np.ndarray], list[Caption]]:
    names = sorted(p.stem for p in (folder / "new_joint_vecs").glob("*.npy"))
    features = [read_features(folder / "new_joint_vecs" / f"{n}.npy") for n in names]
    return features, [read_captions(folder / "texts" / f"{n}.txt")[0] for n in names]


def load_motion_folder(folder) -> MotionSet:
    """Generated motions in HumanML3D layout: ``new_joint_vecs/<name>.npy`` and ``texts/<name>.txt``.

    Every feature file is one motion, paired with the first caption of its text file. An optional
    ``multimodality/`` subfolder in the same layout holds several motions per caption (grouped by caption).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"generated-motion folder {folder} does not exist")
    features, captions = _read_layout(folder)
    if not features:
        layout = "new_joint_vecs/<name>.npy + texts/<name>.txt"
        raise ValueError(f"{folder} holds no generated motions (expected {layout})")
    groups: dict[str, tuple[Caption, list[np.ndarray]]] = {}
    for f, c in zip(*_read_layout(folder / MULTIMODALITY_DIR), strict=True):
        groups.setdefault(c.text, (c, []))[1].append(f)
    return MotionSet(features, captions, [groups[t] for t in sorted(groups)])


def save_motion_folder(folder, motions: MotionSet) -> None:
    """Write a ``MotionSet`` in the layout ``load_motion_folder`` reads (each file atomically)."""
    folder = Path(folder)
    for i, (f, c) in enumerate(zip(motions.features, motions.captions, strict=True)):
        write_clip(folder, f"{i:06d}", f, [c])
    for k, (caption, group) in enumerate(motions.multimodality):
        for s, f in enumerate(group):
            write_clip(folder / MULTIMODALITY_DIR, f"{k:04d}_{s:03d}", f, [caption])


def resolve_function(path: str) -> Callable:
    """The function named by ``"package.module:function"``."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"expected 'package.module:function', got {path!r}")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot load {path!r} ({err}): check that {module} is importable and defines {name}") from err


def physics_summary(features: Sequence[np.ndarray], metric: Callable) -> dict[str, Summary]:
    """Mean and 95 % interval over motions of each physics metric ``metric(joints, fps) -> dict``."""
    per_motion = [metric(features_to_joints(f), FPS) for f in features]
    summary = {}
    for key in per_motion[0]:
        values = np.array([m[key] for m in per_motion], dtype=np.float64)
        if not np.isfinite(values).all():
            first = int(np.argmin(np.isfinite(values)))
            raise ValueError(f"physics metric {key!r} is NaN/Inf for motion {first}: it is never averaged in")
        summary[key] = summarize(values)
    return summary


def _check_size(name: str, count: int, settings: EvalSettings) -> None:
    need = max(settings.pool_size, settings.diversity_pairs)
    if count < need:
        raise ValueError(
            f"{name} has {count} motions, too few for R-precision pools of {settings.pool_size} and "
            f"{settings.diversity_pairs} diversity pairs: use at least {need} motions or lower those counts"
        )


def _row(text, motion, reference, rng, settings: EvalSettings, mm=None) -> dict[str, float]:
    hits, matching = r_precision(text, motion, rng, settings.pool_size, settings.top_k)
    row = {f"R@{k + 1}": float(h) for k, h in enumerate(hits)}
    row["fid"] = fid(reference, motion)
    row["matching"] = float(matching)
    row["diversity"] = diversity(motion, rng, settings.diversity_pairs)
    if mm is not None:
        row["multimodality"] = multimodality(mm, rng, settings.mm_pairs)
    return row


def evaluate(
    evaluator: Evaluator,
    test: Sequence[Entry],
    generated: MotionSet | Sequence[MotionSet] | None = None,
    settings: EvalSettings = EvalSettings(),
    physics: str | Callable | None = DEFAULT_PHYSICS,
    progress: bool = False,
) -> dict[str, dict[str, Summary]]:
    """The standard metrics of the real test entries and (optionally) of generated motions.

    :param generated: one ``MotionSet`` used for every repetition, or one set per repetition.
    :param physics: import path of the per-motion physics function (or the function; None: no physics).
    :returns: ``{"real": {metric: Summary}, "model": {...}}`` (``model`` only with ``generated``); physics
        metrics are prefixed with ``physics/``.
    """
    test = list(test)
    _check_size("the test split", len(test), settings)
    sets = [generated] if isinstance(generated, MotionSet) else list(generated or [])
    if sets and len(sets) not in (1, settings.repeats):
        raise ValueError(f"give one generated set or one per repetition ({settings.repeats}): {len(sets)}")
    for i, s in enumerate(sets):
        _check_size(f"generated set {i}" if len(sets) > 1 else "the generated set", len(s), settings)
    embedded = [(evaluator.embed_texts(s.captions), evaluator.embed_motions(s.features)) for s in sets]
    mm = None
    if sets and sets[0].multimodality:
        groups = [group for _, group in sets[0].multimodality]
        mm = evaluator.embed_motions([f for g in groups for f in g]).reshape(len(groups), len(groups[0]), -1)

    draws: dict[str, list[dict[str, float]]] = {"real": [], "model": []}
    for r in tqdm(range(settings.repeats), desc="evaluating", unit="repeat", disable=not progress):
        rng = draw_rng(settings.seed, r)
        reference = evaluator.embed_motions(random_draw(test, rng)[0])
        features, captions = random_draw(test, rng)
        real = (evaluator.embed_texts(captions), evaluator.embed_motions(features))
        draws["real"].append(_row(*real, reference, rng, settings))
        if embedded:
            draws["model"].append(_row(*embedded[r % len(embedded)], reference, rng, settings, mm))
    rows = {name: {key: summarize([d[key] for d in ds]) for key in ds[0]} for name, ds in draws.items() if ds}
    if physics is not None and physics != NO_PHYSICS:
        metric = resolve_function(physics) if isinstance(physics, str) else physics
        sources = {"real": [e.features for e in test], "model": [f for s in sets for f in s.features]}
        for name, motions in sources.items():
            if motions:
                rows[name].update({f"physics/{k}": v for k, v in physics_summary(motions, metric).items()})
    return rows


def generate_motion_set(
    model,
    test: Sequence[Entry],
    seed: int = 0,
    mm_texts: int = 0,
    mm_samples: int = MM_SAMPLES,
    progress: bool = False,
    **sampling,
) -> MotionSet:
    """Generate one motion per test entry (a seeded random caption, the entry's evaluation length).

    ``model`` is a loaded ``TextToMotionModel`` or a checkpoint folder; ``sampling`` goes to
    ``motion_diffusion.generation.sample_features`` (``steps``, ``guidance``, ``sampler`` ...). With
    ``mm_texts``, as many entries' captions also get ``mm_samples`` motions each for multimodality.
    """
    from ..generation import TextToMotionModel, load_model, sample_features

    if not isinstance(model, TextToMotionModel):
        model = load_model(model)
    test = list(test)
    rng = np.random.default_rng([seed, GENERATION_STREAM])
    captions = [e.captions[rng.integers(len(e.captions))] for e in test]
    lengths = [min(evaluation_length(len(e.features)), model.max_frames) for e in test]
    texts = [c.text for c in captions]
    features = sample_features(model, texts, lengths, seed=seed, progress=progress, **sampling)
    groups = []
    if mm_texts:
        if mm_texts > len(test):
            raise ValueError(f"multimodality needs {mm_texts} captions, the test split has {len(test)}")
        chosen = rng.choice(len(test), mm_texts, replace=False)
        mm_texts_list = [texts[i] for i in chosen for _ in range(mm_samples)]
        mm_lengths = [lengths[i] for i in chosen for _ in range(mm_samples)]
        mm = sample_features(model, mm_texts_list, mm_lengths, seed=seed + 1, progress=progress, **sampling)
        groups = [(captions[i], mm[k * mm_samples : (k + 1) * mm_samples]) for k, i in enumerate(chosen)]
    return MotionSet(features, captions, groups)


def _number(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.3f}"


def format_table(rows: dict[str, dict[str, Summary]], labels: dict[str, str] | None = None) -> str:
    """MDM's table (mean ± 95 % interval), then the physics metrics, as plain text."""
    labels = {"real": REAL_ROW, "model": "Model", **(labels or {})}
    width = max(len(labels[name]) for name in rows) + 2

    def block(columns: Sequence[tuple[str, str]]) -> list[str]:
        cells = [
            [f"{_number(row[key].mean)}±{_number(row[key].ci)}" if key in row else "-" for _, key in columns]
            for row in rows.values()
        ]
        widths = [max(len(title), *(len(c[i]) for c in cells)) + 2 for i, (title, _) in enumerate(columns)]
        lines = ["".ljust(width) + "".join(t.rjust(w) for (t, _), w in zip(columns, widths, strict=True))]
        for name, row_cells in zip(rows, cells, strict=True):
            padded = "".join(c.rjust(w) for c, w in zip(row_cells, widths, strict=True))
            lines.append(labels[name].ljust(width) + padded)
        return lines

    top_k = sorted(k for k in rows["real"] if k.startswith("R@"))
    columns = [(title, key) for title, key in TABLE_COLUMNS if not key.startswith("R@") or key in top_k]
    lines = block(columns)
    physics = [k for k in rows["real"] if k.startswith("physics/")]
    if physics:
        lines += ["", *block([(k.split("/", 1)[1], k) for k in physics])]
    return "\n".join(lines)


def to_json(rows: dict[str, dict[str, Summary]], **extra) -> dict:
    """JSON-ready rows (mean, ci; per-repetition values but not per-motion ones), plus ``extra``."""
    return {
        **extra,
        "rows": {
            name: {k: v.to_dict(with_values=not k.startswith("physics/")) for k, v in row.items()}
            for name, row in rows.items()
        },
    }


def run_evaluation(
    data,
    evaluator=None,
    ckpt=None,
    generated=None,
    out=None,
    split: str = "test",
    settings: EvalSettings = EvalSettings(),
    physics: str | None = DEFAULT_PHYSICS,
    allow_fingerprint_mismatch: bool = False,
    regenerate: bool = False,
    mm_texts: int = 0,
    mm_samples: int = MM_SAMPLES,
    save_generated=None,
    device: str = "cpu",
    progress: bool = True,
    **sampling,
) -> tuple[dict, str]:
    """What ``python -m motion_diffusion.evaluate`` does: returns the JSON report and the printed table.

    :param evaluator: evaluator folder (default ``<data>/evaluator``).
    :param ckpt: checkpoint or run folder to generate from; ``generated``: a folder of generated motions.
    :param regenerate: with ``ckpt``, generate a fresh set for every repetition (MDM's protocol).
    """
    if ckpt is not None and generated is not None:
        raise ValueError("give a checkpoint to generate from or a folder of generated motions, not both")
    data = Path(data)
    evaluator_path = Path(evaluator) if evaluator is not None else data / "evaluator"
    model = load_evaluator(evaluator_path, device)
    data_fingerprint = check_fingerprint(model, data, allow_fingerprint_mismatch)
    test = load_dataset(data, split).entries
    motions = None
    if generated is not None:
        motions = load_motion_folder(generated)
    elif ckpt is not None:
        from ..generation import load_model

        generator = load_model(ckpt, device)
        motions = []
        for r in range(settings.repeats if regenerate else 1):
            mm = mm_texts if r == 0 else 0  # multimodality samples are generated once
            motions.append(
                generate_motion_set(generator, test, settings.seed + r, mm, mm_samples, progress, **sampling)
            )
        if save_generated is not None:
            save_motion_folder(save_generated, motions[0])
    rows = evaluate(model, test, motions, settings, physics, progress)
    label = f"Model ({ckpt})" if ckpt is not None else f"Generated ({generated})"
    report = to_json(
        rows,
        data=str(data),
        split=split,
        evaluator={"path": str(evaluator_path), "name": model.name, "fingerprint": model.fingerprint},
        data_fingerprint=data_fingerprint,
        settings=asdict(settings),
        checkpoint=None if ckpt is None else str(ckpt),
        generated=None if generated is None else str(generated),
        physics=physics,
        sampling=sampling,
    )
    table = format_table(rows, {"model": label})
    if out is None:
        out = Path(ckpt if ckpt is not None else generated or evaluator_path) / "evaluation.json"
    write_text(out, json.dumps(report, indent=2) + "\n")
    report["path"] = str(out)
    return report, table
