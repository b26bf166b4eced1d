"""Physics-correction benchmark, written as JSON (not a test): ``python -m benchmarks physics``.

Corrects one procedural clip per family (clean), then corrupted copies of the clips that stand on the floor
(hover 10 cm over the middle third, sink 5 cm, 15 mm joint jitter, 0.4 m drift, two teleported frames), one
process on one core. Reports, per clip and in total: falls, assist, joint error to the input (mpjpe), Phys-Err
before and after with its reduction, jerk, and the speed in motion-seconds corrected per wall-second
(retargeting included).
"""

from __future__ import annotations

import time

import numpy as np

from motion_diffusion.data.procedural.generate import FAMILIES, generate_clips
from motion_diffusion.motion.skeleton import FPS
from physics_correct.correct import correct_joints

SEED = 0
CORRUPTED_FAMILIES = ("idle", "walk", "jog", "turn", "squat")


def corruptions(joints: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Corrupted copies of a clip (T, 22, 3), Y-up metres."""
    num = len(joints)
    hover = joints.copy()
    hover[num // 3 : 2 * num // 3, :, 1] += 0.10
    drift = joints.copy()
    drift[..., 0] += np.linspace(0.0, 0.4, num)[:, None]
    teleport = joints.copy()
    for frame in rng.choice(np.arange(5, num - 5), size=2, replace=False):
        teleport[frame, :, 2] += 0.5
    return {
        "hover_10cm": hover,
        "sink_5cm": joints - [0.0, 0.05, 0.0],
        "jitter_15mm": joints + rng.normal(scale=0.015, size=joints.shape),
        "drift_0.4m": drift,
        "teleport_2_frames": teleport,
    }


def _entry(joints: np.ndarray) -> dict:
    start = time.perf_counter()
    _, report = correct_joints(joints, FPS)
    before, after = report["metrics_before"], report["metrics_after"]
    return {
        "seconds_of_motion": (len(joints) - 1) / FPS,
        "wall_seconds": time.perf_counter() - start,
        "falls": report["falls"],
        "mpjpe_mm": report["mpjpe_mm"],
        "assist_mean_n": report["assist_mean_n"],
        "assist_mean_nm": report["assist_mean_nm"],
        "assist_saturated": report["assist_saturated"],
        "phys_err_before_mm": before["phys_err_mm"],
        "phys_err_after_mm": after["phys_err_mm"],
        "phys_err_reduction": 1.0 - after["phys_err_mm"] / max(before["phys_err_mm"], 1e-9),
        "penetration_after_mm": after["penetration_mm"],
        "skate_before_mm": before["skate_mm"],
        "skate_after_mm": after["skate_mm"],
        "jerk_before": before["jerk"],
        "jerk_after": after["jerk"],
    }


def _summary(entries: dict[str, dict]) -> dict:
    seconds = sum(e["seconds_of_motion"] for e in entries.values())
    wall = sum(e["wall_seconds"] for e in entries.values())
    return {
        "clips": len(entries),
        "falls": sum(e["falls"] for e in entries.values()),
        "mean_mpjpe_mm": float(np.mean([e["mpjpe_mm"] for e in entries.values()])),
        "mean_assist_n": float(np.mean([e["assist_mean_n"] for e in entries.values()])),
        "mean_phys_err_before_mm": float(np.mean([e["phys_err_before_mm"] for e in entries.values()])),
        "mean_phys_err_after_mm": float(np.mean([e["phys_err_after_mm"] for e in entries.values()])),
        "realtime_factor_per_core": seconds / wall,
    }


def run(seed: int = SEED) -> dict:
    """Run the benchmark and return its results (see the module docstring)."""
    rng = np.random.default_rng(seed)
    clips = {}
    for clip in generate_clips(3 * len(FAMILIES), seed=seed):
        if clip.family in FAMILIES:  # single-family clips only, one per family
            clips.setdefault(clip.family, clip.joints)
    clean = {family: _entry(joints) for family, joints in sorted(clips.items())}
    corrupted = {}
    for family in CORRUPTED_FAMILIES:
        if family in clips:
            for name, joints in corruptions(clips[family], rng).items():
                corrupted[f"{family}/{name}"] = _entry(joints)
    by_kind = {}
    for key, entry in corrupted.items():
        by_kind.setdefault(key.split("/")[1], []).append(entry)
    repairs = {
        kind: {
            "mean_phys_err_reduction": float(np.mean([e["phys_err_reduction"] for e in entries])),
            "mean_jerk_ratio": float(np.mean([e["jerk_after"] / e["jerk_before"] for e in entries])),
            "falls": sum(e["falls"] for e in entries),
        }
        for kind, entries in by_kind.items()
    }
    return {
        "seed": seed,
        "clean_summary": _summary(clean),
        "corrupted_summary": _summary(corrupted),
        "repairs": repairs,
        "clean": clean,
        "corrupted": corrupted,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
