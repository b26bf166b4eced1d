"""Build the embedded HumanML3D-layout dataset from procedurally generated clips.

Each generated clip is written with its mirrored twin (``M`` prefix, as HumanML3D), a clip and its mirror always
share a split, and Mean/Std come from the train split only (HumanML3D's own stats include the test split; we
do not copy that leak).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...motion import Motion, Normalizer, mirror_text
from ...motion.features import features_to_joints, joints_to_features
from ...motion.files import write_text
from ..humanml3d import Caption, read_features, write_clip, write_splits
from .generate import GeneratedClip, clip_at

SPLIT_FRACTIONS = {"train": 0.80, "val": 0.05, "test": 0.15}  # HumanML3D's proportions
DEFAULT_NUM_CLIPS = 1000  # generated clips; the folder holds twice as many with the mirrors
CHUNK = 20  # clips per worker task


def _captions(clip: GeneratedClip, mirrored: bool) -> list[Caption]:
    fix = mirror_text if mirrored else (lambda s: s)
    return [
        Caption(fix(t), tuple(fix(tok) for tok in toks)) for t, toks in zip(clip.captions, clip.tokens, strict=True)
    ]


def _write_pair(root: Path, name: str, clip: GeneratedClip) -> None:
    """Write a clip and its mirror (features, recovered joints, captions)."""
    motion = Motion(clip.joints)
    for clip_name, m, mirrored in ((name, motion, False), ("M" + name, motion.mirror(), True)):
        feats = joints_to_features(m.joints)
        write_clip(root, clip_name, feats, _captions(clip, mirrored), joints=features_to_joints(feats))


def _generate_and_write(args) -> tuple[list[str], int]:
    """Worker: generate clips ``indices`` for ``seed`` and write them; return their families and frame count."""
    root, indices, seed = args
    families, frames = [], 0
    for i in indices:
        clip = clip_at(i, seed)
        _write_pair(root, _name(i), clip)
        families.append(clip.family)
        frames += 2 * (len(clip.joints) - 1)
    return families, frames


def _name(index: int) -> str:
    return f"{index:06d}"


def split_names(names: list[str], seed: int) -> dict[str, list[str]]:
    """Deterministic train/val/test split of base names (each name goes with its ``M`` mirror)."""
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = round(SPLIT_FRACTIONS["val"] * len(names))
    n_test = round(SPLIT_FRACTIONS["test"] * len(names))
    parts = {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}
    return {split: sorted(n for i in idx for n in (names[i], "M" + names[i])) for split, idx in parts.items()}


def build_dataset(out, num_clips: int = DEFAULT_NUM_CLIPS, seed: int = 0, workers: int = 2) -> dict:
    """Generate ``num_clips`` clips (plus mirrors) into a HumanML3D-layout folder ``out``; return a summary."""
    if num_clips < 20:
        raise ValueError(f"num_clips must be at least 20 so that every split gets clips, got {num_clips}")
    root = Path(out)
    start = time.perf_counter()
    chunks = [(root, range(i, min(i + CHUNK, num_clips)), seed) for i in range(0, num_clips, CHUNK)]
    clip_families: list[str] = []
    frames = 0
    with (
        ProcessPoolExecutor(max_workers=max(1, workers)) as pool,
        tqdm(total=num_clips, desc="generating clips", unit="clip") as bar,
    ):
        for chunk_families, chunk_frames in pool.map(_generate_and_write, chunks):
            clip_families.extend(chunk_families)
            frames += chunk_frames
            bar.update(len(chunk_families))
    splits = split_names([_name(i) for i in range(num_clips)], seed)
    write_splits(root, splits)
    Normalizer.fit(read_features(root / "new_joint_vecs" / f"{n}.npy") for n in splits["train"]).save(root)
    summary = {
        "generator": "motion_diffusion.data.procedural",
        "seed": seed,
        "num_generated": num_clips,
        "num_files": 2 * num_clips,
        "splits": {k: len(v) for k, v in splits.items()},
        "main_families": dict(sorted(Counter(f.split("+")[0] for f in clip_families).items())),
        "chained_clips": sum("+" in f for f in clip_families),
        "frames": frames,
        "seconds_to_build": round(time.perf_counter() - start, 2),
        "clip_families": {_name(i): f for i, f in enumerate(clip_families)},  # mirrors share their twin's
    }
    write_text(root / "dataset.json", json.dumps(summary, indent=2) + "\n")
    return summary
