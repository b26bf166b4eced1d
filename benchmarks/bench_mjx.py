"""MJX backend throughput, written as JSON (not a test): ``python -m benchmarks mjx``.

One procedural walk clip (``CLIP_FRAMES`` frames at 20 fps, a plan that nearly fills its length bucket) is planned
once and simulated as a batch of copies with ``backends.mjx.simulate_batch``, at batch sizes 1..4096 (powers of 4)
on a GPU and 1 and 4 on a CPU; then in the MPC quality mode (default planner settings) at batch sizes 1..256 on
a GPU and 1 on a CPU. Per batch size: the compile time (first call minus a second, compiled call) and the
motion-seconds simulated per wall-second of the compiled call. Planning (IK, the plan) runs on the CPU for either
backend and is reported once, per clip, with the CPU backend's simulation speed on the same clip in both modes.
Needs the ``mjx`` extra; without it the result says so.
"""

from __future__ import annotations

import time

import numpy as np

from motion_diffusion.data.procedural.generate import generate_clip
from motion_diffusion.motion.skeleton import FPS
from physics_correct.controller import ControllerConfig
from physics_correct.correct import _default_model, plan_motion

CLIP_FRAMES = 43  # 2.1 s: 127 control steps, in the 128-step bucket
SEED = 0
GPU_BATCHES = tuple(4**k for k in range(7))  # 1 .. 4096
CPU_BATCHES = (1, 4)
GPU_MPC_BATCHES = (1, 16, 256)  # each clip rolls out mpc_samples futures at every replan
CPU_MPC_BATCHES = (1,)


def _rows(mjx, model, plan, config, batches, seconds: float) -> list[dict]:
    """Compile time and compiled speed of ``simulate_batch`` at each batch size."""
    rows = []
    for batch in batches:
        start = time.perf_counter()
        mjx.simulate_batch([model] * batch, [plan] * batch, config)
        first = time.perf_counter() - start
        start = time.perf_counter()
        mjx.simulate_batch([model] * batch, [plan] * batch, config)
        wall = time.perf_counter() - start
        rows.append(
            {
                "batch": batch,
                "compile_seconds": round(first - wall, 2),
                "wall_seconds": round(wall, 3),
                "motion_seconds_per_second": round(batch * seconds / wall, 2),
            }
        )
        print(rows[-1], flush=True)
    return rows


def run() -> dict:
    try:
        import jax

        from physics_correct.backends import mjx
    except ImportError as exc:
        return {"skipped": f"the mjx extra is not installed ({exc})"}
    from physics_correct.backends import mujoco_cpu

    config = ControllerConfig()
    joints = generate_clip("walk", np.random.default_rng(SEED)).joints[:CLIP_FRAMES]
    start = time.perf_counter()
    planned = plan_motion(joints, FPS, config, _default_model())
    plan_seconds = time.perf_counter() - start
    model, plan = planned.model, planned.plan
    seconds = (plan.num_steps - 1) / plan.rate
    cpu_speed = {}
    for mode in ("pd", "mpc"):
        start = time.perf_counter()
        mujoco_cpu.simulate(model, plan, config.with_options(mode=mode))
        cpu_speed[mode] = round(seconds / (time.perf_counter() - start), 2)

    gpu = jax.default_backend() == "gpu"
    rows = _rows(mjx, model, plan, config, GPU_BATCHES if gpu else CPU_BATCHES, seconds)
    mpc = config.with_options(mode="mpc")
    mpc_rows = _rows(mjx, model, plan, mpc, GPU_MPC_BATCHES if gpu else CPU_MPC_BATCHES, seconds)
    return {
        "device": jax.default_backend(),
        "device_name": str(jax.devices()[0].device_kind),
        "clip_seconds": round(seconds, 3),
        "control_steps": plan.num_steps,
        "bucket_steps": mjx.bucket_length(plan.num_steps),
        "plan_seconds_per_clip": round(plan_seconds, 3),
        "cpu_backend_motion_seconds_per_second": cpu_speed["pd"],
        "cpu_backend_mpc_motion_seconds_per_second": cpu_speed["mpc"],
        "mjx": rows,
        "mjx_mpc": mpc_rows,
    }
