"""Build the embedded HumanML3D-layout dataset from procedurally generated clips.

Each generated clip is written with its mirrored twin (``M`` prefix, as HumanML3D), a clip and its mirror always
share a split, and Mean/Std come from the train split only (HumanML3D's own stats include the test split; we
do not copy that leak).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...motion import Motion, Normalizer, mirror_text
from ...motion.features import features_to_joints, joints_to_features
from ...motion.files import write_text
from ..humanml3d import Caption, write_clip, write_splits
from .generate import FAMILIES, GeneratedClip, generate_clips

SPLIT_FRACTIONS = {"train": 0.80, "val": 0.05, "test": 0.15}  # HumanML3D's proportions
DEFAULT_NUM_CLIPS = 1000  # generated clips; the folder holds twice as many with the mirrors


def _captions(clip: GeneratedClip, mirrored: bool) -> list[Caption]:
    fix = mirror_text if mirrored else (lambda s: s)
    return [
        Caption(fix(t), tuple(fix(tok) for tok in toks)) for t, toks in zip(clip.captions, clip.tokens, strict=True)
    ]


def _write_pair(root: Path, name: str, clip: GeneratedClip) -> dict[str, np.ndarray]:
    """Write a clip and its mirror; return their features (needed for Mean/Std)."""
    motion = Motion(clip.joints)
    features = {}
    for clip_name, m, mirrored in ((name, motion, False), ("M" + name, motion.mirror(), True)):
        feats = joints_to_features(m.joints)
        write_clip(root, clip_name, feats, _captions(clip, mirrored), joints=features_to_joints(feats))
        features[clip_name] = feats
    return features


def _write_chunk(args) -> dict[str, np.ndarray]:
    root, items = args
    out = {}
    for name, clip in items:
        out.update(_write_pair(root, name, clip))
    return out


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
    clips = generate_clips(num_clips, seed=seed)
    names = [f"{i:06d}" for i in range(len(clips))]
    items = list(zip(names, clips, strict=True))
    chunks = [(root, items[i : i + 25]) for i in range(0, len(items), 25)]
    features: dict[str, np.ndarray] = {}
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for part in tqdm(pool.map(_write_chunk, chunks), total=len(chunks), desc="writing clips", unit="x25"):
            features.update(part)
    splits = split_names(names, seed)
    write_splits(root, splits)
    Normalizer.fit(features[n] for n in splits["train"]).save(root)
    families: dict[str, int] = {}
    for clip in clips:
        families[clip.family] = families.get(clip.family, 0) + 1
    summary = {
        "generator": "motion_diffusion.data.procedural",
        "seed": seed,
        "num_generated": len(clips),
        "num_files": len(features),
        "splits": {k: len(v) for k, v in splits.items()},
        "families": dict(sorted(families.items())),
        "family_specs": sorted(FAMILIES),
        "frames": int(sum(len(f) for f in features.values())),
        "seconds_to_build": round(time.perf_counter() - start, 2),
    }
    write_text(root / "dataset.json", json.dumps(summary, indent=2) + "\n")
    return summary
