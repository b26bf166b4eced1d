"""Batch-correction benchmark, written as JSON (not a test): ``python -m benchmarks batch``.

Corrects the same clips of the embedded dataset (the first ``CLIPS`` names of its test split, copied to a
temporary HumanML3D folder) with ``physics_correct.batch.correct_dataset`` three ways: one process, a pool of
``workers`` spawned processes, and a local Ray instance with ``workers`` CPUs (started before the clock starts;
its worker processes start inside the timed run, as the pool's do). Reports motion-seconds corrected per
wall-second for each, the scaling efficiency (speed-up / workers) and whether all three gave identical outputs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from motion_diffusion.data.humanml3d import read_split, write_splits
from physics_correct.batch import FEATURES_DIR, NORMALIZER_FILES, TEXTS_DIR, correct_dataset

EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "embedded"
CLIPS = 32
WORKERS = 2


def _source(root: Path, clips: int) -> list[str]:
    names = sorted(read_split(EMBEDDED, "test"))[:clips]
    for folder, suffix in ((FEATURES_DIR, ".npy"), (TEXTS_DIR, ".txt")):
        (root / folder).mkdir(parents=True)
        for name in names:
            shutil.copy(EMBEDDED / folder / f"{name}{suffix}", root / folder)
    for name in NORMALIZER_FILES:
        shutil.copy(EMBEDDED / name, root)
    write_splits(root, {"test": names})
    return names


def _same_outputs(a: Path, b: Path, names: list[str]) -> bool:
    return all(
        np.array_equal(np.load(a / FEATURES_DIR / f"{n}.npy"), np.load(b / FEATURES_DIR / f"{n}.npy")) for n in names
    )


def _entry(summary: dict) -> dict:
    keys = ("ok", "failed", "motion_seconds", "wall_seconds", "motion_seconds_per_wall_second")
    return {key: summary[key] for key in keys}


def run(clips: int = CLIPS, workers: int = WORKERS) -> dict:
    """Run the benchmark and return its results (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        names = _source(tmp / "src", clips)
        results = {"serial": _entry(correct_dataset(tmp / "src", tmp / "serial", progress=False))}
        pool = correct_dataset(tmp / "src", tmp / "pool", workers=workers, progress=False)
        results[f"pool_{workers}"] = _entry(pool)
        same = {"pool": _same_outputs(tmp / "serial", tmp / "pool", names)}
        try:
            import ray
        except ImportError:
            results[f"ray_local_{workers}"] = "skipped: ray is not installed (pip install '.[ray]')"
        else:
            ray.init(num_cpus=workers, include_dashboard=False)
            try:
                summary = correct_dataset(tmp / "src", tmp / "ray", ray_address="local", progress=False)
            finally:
                ray.shutdown()
            results[f"ray_local_{workers}"] = _entry(summary)
            same["ray"] = _same_outputs(tmp / "serial", tmp / "ray", names)
    serial_rate = results["serial"]["motion_seconds_per_wall_second"]
    for key, entry in results.items():
        if isinstance(entry, dict) and key != "serial":
            entry["scaling_efficiency"] = entry["motion_seconds_per_wall_second"] / (serial_rate * workers)
    return {
        "clips": len(names),
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "outputs_identical": same,
        **results,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
