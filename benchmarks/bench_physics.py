"""Physics-correction benchmark, written as JSON (not a test): ``python -m benchmarks physics``.

Corrects one procedural clip per family (clean), then corrupted copies of some of them (``physics_correct.gates``:
hover 10 cm and sink 5 cm over the middle third, 15 mm joint jitter, 0.4 m drift, two teleported frames), one
process on one core, with the default controller; the clean clips once more without the centroidal projection
(``centroidal=False``), with the fall rescue (``rescue_seconds=0.5``) and in the MPC quality mode (``mode="mpc"``,
one rollout thread). Reports, per clip and in total: falls, rescues, assist, joint error to the clean clip
(mpjpe), Phys-Err before and after with its reduction, jerk, the gates missed, and the speed in motion-seconds
corrected per wall-second (retargeting included), with the speed of the other settings relative to the default.
"""

from __future__ import annotations

import time

import numpy as np

from motion_diffusion.data.procedural.generate import FAMILIES, generate_clips
from motion_diffusion.motion.skeleton import FPS
from physics_correct import gates
from physics_correct.controller import ControllerConfig
from physics_correct.correct import correct_joints

NOTHING_TO_REDUCE_MM = 0.01
SEED = 0
CLIPS_SEARCHED = 6  # clips generated per family to find one single-family clip of each
CORRUPTED_FAMILIES = ("idle", "walk", "jog", "turn", "squat")


def _entry(family: str, clean: np.ndarray, kind: str, seed: int, config: ControllerConfig | None = None) -> dict:
    joints = clean if kind == "clean" else gates.corrupt(clean, kind, seed=seed)
    start = time.perf_counter()
    out, report = correct_joints(joints, FPS, config)
    wall = time.perf_counter() - start
    before, after = report["metrics_before"], report["metrics_after"]
    if kind == "clean":
        checks = gates.clean_checks(family, clean, out, report)
    else:
        checks = gates.corruption_checks(kind, clean, joints, out, report)
    return {
        "seconds_of_motion": (len(joints) - 1) / FPS,
        "wall_seconds": wall,
        "falls": report["falls"],
        "rescues": report["rescues"],
        "mpjpe_mm": gates.mpjpe_mm(out, clean),
        "assist_mean_n": report["assist_mean_n"],
        "assist_max_n": report["assist_max_n"],
        "assist_mean_nm": report["assist_mean_nm"],
        "assist_max_nm": report["assist_max_nm"],
        "assist_saturated": report["assist_saturated"],
        "phys_err_before_mm": before["phys_err_mm"],
        "phys_err_after_mm": after["phys_err_mm"],
        # A clean clip with no Phys-Err has nothing to reduce: null rather than a meaningless ratio.
        "phys_err_reduction": (
            1.0 - after["phys_err_mm"] / before["phys_err_mm"] if before["phys_err_mm"] > NOTHING_TO_REDUCE_MM else None
        ),
        "penetration_after_mm": after["penetration_mm"],
        "skate_before_mm": before["skate_mm"],
        "skate_after_mm": after["skate_mm"],
        "jerk_before": before["jerk"],
        "jerk_after": after["jerk"],
        "missed_gates": [name for name, check in checks.items() if not check.passed],
    }


def _summary(entries: dict[str, dict]) -> dict:
    seconds = sum(e["seconds_of_motion"] for e in entries.values())
    wall = sum(e["wall_seconds"] for e in entries.values())
    return {
        "clips": len(entries),
        "falls": sum(e["falls"] for e in entries.values()),
        "rescues": sum(e["rescues"] for e in entries.values()),
        "clips_passing_all_gates": sum(not e["missed_gates"] for e in entries.values()),
        "mean_mpjpe_mm": float(np.mean([e["mpjpe_mm"] for e in entries.values()])),
        "mean_assist_n": float(np.mean([e["assist_mean_n"] for e in entries.values()])),
        "mean_phys_err_before_mm": float(np.mean([e["phys_err_before_mm"] for e in entries.values()])),
        "mean_phys_err_after_mm": float(np.mean([e["phys_err_after_mm"] for e in entries.values()])),
        "realtime_factor_per_core": seconds / wall,
    }


def run(seed: int = SEED) -> dict:
    """Run the benchmark and return its results (see the module docstring)."""
    clips = {}
    for clip in generate_clips(CLIPS_SEARCHED * len(FAMILIES), seed=seed):
        if clip.family in FAMILIES:  # single-family clips only, one per family
            clips.setdefault(clip.family, clip.joints)

    def clean_pass(config: ControllerConfig | None = None) -> dict[str, dict]:
        return {family: _entry(family, joints, "clean", seed, config) for family, joints in sorted(clips.items())}

    clean = clean_pass()
    clean_tracked_as_is = clean_pass(ControllerConfig(centroidal=False))
    clean_rescue = clean_pass(ControllerConfig(rescue_seconds=0.5))
    clean_mpc = clean_pass(ControllerConfig(mode="mpc"))
    corrupted = {
        f"{family}/{kind}": _entry(family, clips[family], kind, seed)
        for family in CORRUPTED_FAMILIES
        if family in clips
        for kind in gates.CORRUPTIONS
    }
    by_kind = {}
    for key, entry in corrupted.items():
        by_kind.setdefault(key.split("/")[1], []).append(entry)
    repairs = {
        kind: {
            "mean_phys_err_reduction": float(np.mean([e["phys_err_reduction"] for e in entries])),
            "mean_jerk_ratio": float(np.mean([e["jerk_after"] / e["jerk_before"] for e in entries])),
            "falls": sum(e["falls"] for e in entries),
            "clips_passing_all_gates": sum(not e["missed_gates"] for e in entries),
        }
        for kind, entries in by_kind.items()
    }
    summary, summary_as_is, summary_mpc = _summary(clean), _summary(clean_tracked_as_is), _summary(clean_mpc)
    return {
        "seed": seed,
        "clean_summary": summary,
        "corrupted_summary": _summary(corrupted),
        "no_centroidal_clean_summary": summary_as_is,
        "no_centroidal_speed_relative_to_default": summary_as_is["realtime_factor_per_core"]
        / summary["realtime_factor_per_core"],
        "rescue_clean_summary": _summary(clean_rescue),
        "mpc_clean_summary": summary_mpc,
        "mpc_speed_relative_to_default": summary_mpc["realtime_factor_per_core"] / summary["realtime_factor_per_core"],
        "repairs": repairs,
        "clean": clean,
        "corrupted": corrupted,
        "clean_no_centroidal": clean_tracked_as_is,
        "clean_rescue": clean_rescue,
        "clean_mpc": clean_mpc,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
