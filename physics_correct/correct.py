"""``correct(motion)``: track a motion with the simulated humanoid and return the simulated motion.

Pipeline for one clip (HumanML3D joints, Y-up, any fps):
reference clean-up (teleports, sinking, hovering, stance-foot locking, swing clearance) -> IK retargeting,
planted toes laid flat -> smoothed reference at the control rate -> plan (PD targets, weight-support
feed-forward per support, assist targets) -> simulation with fall handling (CPU MuJoCo, or MJX with
``backend="mjx"``) -> the 22 simulated joint bodies at the input frame times.
"""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np

from motion_diffusion.motion import Motion, Normalizer
from motion_diffusion.motion.checks import check_features, check_fps, check_joints
from motion_diffusion.motion.features import features_to_joints, joints_to_features
from motion_diffusion.motion.skeleton import FEATURE_DIM, FPS, NUM_JOINTS

from . import humanoid
from .backends.mujoco_cpu import simulate
from .controller import (
    ControllerConfig,
    FootModel,
    Plan,
    build_plan,
    interpolate_frames,
    prepare_reference,
    support_index,
)
from .controller.centroidal import feasible_reference
from .metrics import MIN_FRAMES, physics_metrics
from .retarget import (
    IKResult,
    check_pose,
    fit_branch_offsets,
    flat_foot_heights,
    level_toes,
    model_bone_lengths,
    mujoco_to_joints,
    reference_trajectory,
    retarget,
    with_offsets,
)

MM = 1000.0
# Thread counts ``spawn_pool`` sets to 1 in its workers unless the user has set them (Ray does the same for its tasks).
WORKER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
WORKER_DIED = (
    "the worker process died while correcting this item (a crash or out of memory; a script that starts workers "
    "needs an `if __name__ == '__main__':` guard)"
)
SATURATED = 0.99  # the assist counts as saturated at this fraction of its cap


@dataclass(frozen=True)
class CorrectionResult:
    """The corrected ``motion`` in the input's form (None when it failed), a ``report`` dict and ``error``."""

    motion: object
    report: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@functools.cache
def _default_model():
    return humanoid.load_humanoid()


def _resample(values: np.ndarray, times: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """Linear interpolation of an array (N, ...) sampled at ``times`` onto ``new_times``."""
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(new_times, times, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(new_times), *values.shape[1:])


@dataclass(frozen=True)
class Planned:
    """A clip made ready to simulate: the (fitted) ``model``, the ``plan``, the IK result, the teleported and
    absurd frames repaired, and the root offset (N, 3) of the centroidal projection (zeros without it)."""

    model: object
    plan: Plan
    ik: IKResult
    teleports: int
    absurd_frames: int
    centroidal_shift: np.ndarray


def plan_motion(joints: np.ndarray, fps: float, config: ControllerConfig, model) -> Planned:
    """Reference clean-up, retargeting and the control plan of one checked clip (T, 22, 3) at ``fps``."""
    tolerated = int(config.repair_absurd_frames * len(joints))
    absurd = check_pose(joints, model_bone_lengths(model), tolerated_frames=tolerated)
    joints = interpolate_frames(joints, absurd)
    if config.fit_skeleton:
        model = with_offsets(model, fit_branch_offsets(model, joints))
    prepared = prepare_reference(joints, fps, flat_foot_heights(model), config.lock_feet, config.swing_clearance)
    ik = retarget(prepared.joints, model)
    qpos = level_toes(model, ik.qpos, prepared.toe_weights)
    rate = 1.0 / (model.opt.timestep * config.control_substeps)
    reference = reference_trajectory(qpos, fps, rate, config.smooth_sigma)
    dense_weights = _resample(prepared.weights, np.arange(len(joints)) / fps, reference.times)
    feet = FootModel.of(model)  # one copy of the model for the contact solver, shared by both steps
    shift = np.zeros((len(reference.qpos), 3))
    if config.centroidal:
        force_cap = config.assist_force * humanoid.body_weight(model)
        reference, shift = feasible_reference(
            model, reference, dense_weights, force_cap, config.assist_torque, feet=feet
        )
    plan = build_plan(model, reference, dense_weights, config.control_substeps, config.feedforward, feet=feet)
    return Planned(model, plan, ik, prepared.teleports, int(absurd.sum()), shift)


def correct_joints(joints, fps: float = FPS, config: ControllerConfig | None = None, model=None):
    """Correct one clip of joints (T, 22, 3) at ``fps``; return (corrected joints (T, 22, 3), report dict)."""
    start = time.perf_counter()
    joints, fps = _checked(joints, fps)
    config = ControllerConfig() if config is None else config
    planned = plan_motion(joints, fps, config, _default_model() if model is None else model)
    if config.backend == "mjx":
        from .backends import mjx

        rollout = mjx.simulate(planned.model, planned.plan, config)
    else:
        rollout = simulate(planned.model, planned.plan, config)
    return _finish(joints, fps, config, planned, rollout, start)


def _checked(joints, fps):
    joints = check_joints(joints, min_frames=MIN_FRAMES)
    if joints.ndim != 3:
        raise ValueError(f"correct_joints takes one clip (T, 22, 3), got {joints.shape}; pass a list for a batch")
    return joints, check_fps(fps)


def _finish(joints, fps, config: ControllerConfig, planned: Planned, rollout, start: float):
    """The simulated joints at the input frames and the report of a clip whose correction began at ``start``."""
    model, plan, ik = planned.model, planned.plan, planned.ik
    frame_times = np.arange(len(joints)) / fps
    out = mujoco_to_joints(_resample(rollout.body_pos, np.arange(plan.num_steps) / plan.rate, frame_times))

    force = np.linalg.norm(rollout.assist[:, :3], axis=1)
    torque = np.linalg.norm(rollout.assist[:, 3:], axis=1)
    weight = humanoid.body_weight(model)
    saturated = (force >= SATURATED * config.assist_force * weight) & (config.assist_force > 0)
    saturated |= (torque >= SATURATED * config.assist_torque) & (config.assist_torque > 0)
    # What the tracked reference asks of the root beyond what its own foot contacts can supply: its infeasibility.
    residual = plan.root_residual[:, support_index(True, True)]
    residual_force, residual_torque = (np.linalg.norm(residual[:, axes], axis=1) for axes in (slice(0, 3), slice(3, 6)))
    over_cap = (residual_force > config.assist_force * weight) | (residual_torque > config.assist_torque)
    seconds = time.perf_counter() - start
    report = {
        "mode": config.mode,
        "falls": len(rollout.falls),
        "rescues": len(rollout.rescues),
        "resets": len(rollout.falls) if config.on_fall == "reset" else 0,
        "fall_times_s": [round(k / plan.rate, 3) for k in rollout.falls],
        "assist_mean_n": float(force.mean()),
        "assist_max_n": float(force.max()),
        "assist_mean_nm": float(torque.mean()),
        "assist_max_nm": float(torque.max()),
        "assist_saturated": float(saturated.mean()),
        "assist_mean_bw": float(force.mean() / weight),
        "mpjpe_mm": float(np.linalg.norm(out - joints, axis=-1).mean() * MM),
        "max_body_error_mm": float(rollout.error.max() * MM),
        "ik_error_mm": float(ik.error.mean() * MM),
        "centroidal_shift_mm": float(np.linalg.norm(planned.centroidal_shift, axis=1).mean() * MM),
        "reference_residual_mean_n": float(residual_force.mean()),
        "reference_residual_mean_nm": float(residual_torque.mean()),
        "reference_over_cap": float(over_cap.mean()),
        "teleported_frames": planned.teleports,
        "absurd_frames_repaired": planned.absurd_frames,
        "metrics_before": physics_metrics(joints, fps),
        "metrics_after": physics_metrics(out, fps),
        "seconds": seconds,
        "realtime_factor": (len(joints) - 1) / fps / seconds,
    }
    return out, report


def _as_joints(item, fps, normalized, mean, std):
    """(joints, fps, form) of one input: a Motion, joints (T, 22, 3) or features (T, 263)."""
    if isinstance(item, Motion):
        return item.joints, item.fps, "motion"
    array = np.asarray(item)
    if array.ndim == 2 and array.shape[-1] == FEATURE_DIM:
        features = check_features(array)
        if normalized:
            if mean is None or std is None:
                raise ValueError("normalized features need mean= and std= (the dataset's Mean.npy and Std.npy)")
            features = Normalizer(mean, std).inverse(features)
        return features_to_joints(features.astype(np.float64)), FPS if fps is None else fps, "features"
    if array.ndim == 3 and array.shape[1:] == (NUM_JOINTS, 3):
        return array, FPS if fps is None else fps, "joints"
    raise ValueError(
        f"correct takes a Motion, joints (T, {NUM_JOINTS}, 3) or features (T, {FEATURE_DIM}); got shape {array.shape}"
    )


def _to_form(joints, fps, form, original, normalized, mean, std):
    if form == "motion":
        return Motion(joints, fps=fps, text=original.text)
    if form == "joints":
        return joints.astype(np.asarray(original).dtype if np.asarray(original).dtype.kind == "f" else np.float64)
    # Features lose one frame to velocities: extrapolate one frame so the output has the input's length.
    extended = np.concatenate([joints, 2 * joints[-1:] - joints[-2:-1]])
    features = joints_to_features(extended)
    return Normalizer(mean, std)(features) if normalized else features


def _correct_item(args):
    item, fps, normalized, mean, std, options = args
    joints, fps, form = _as_joints(item, fps, normalized, mean, std)
    out, report = correct_joints(joints, fps, ControllerConfig().with_options(**options))
    return CorrectionResult(_to_form(out, fps, form, item, normalized, mean, std), report)


def _failure(exc: Exception) -> CorrectionResult:
    return CorrectionResult(None, {}, f"{type(exc).__name__}: {exc}")


def _correct_safely(args):
    try:
        return _correct_item(args)
    except Exception as exc:  # a batch records the failure and moves on
        return _failure(exc)


@contextmanager
def spawn_pool(workers: int):
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes, each starting with one BLAS/OpenMP thread
    (``WORKER_THREAD_VARIABLES`` the user has not set): N workers already fill N cores, and threaded BLAS in
    each of them can make the whole pool several times slower."""
    added = [name for name in WORKER_THREAD_VARIABLES if name not in os.environ]
    os.environ.update(dict.fromkeys(added, "1"))
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            yield pool
    finally:
        for name in added:
            os.environ.pop(name, None)


def _correct_in_pool(jobs, workers: int) -> list[CorrectionResult]:
    """Correct ``jobs`` on ``workers`` spawned processes. If a worker dies (a crash or out of memory breaks the
    whole pool), the finished results are kept and each unfinished item is redone alone in a fresh process, so
    only an item that kills its process again fails (``WORKER_DIED``)."""
    results: list[CorrectionResult | None] = [None] * len(jobs)
    with spawn_pool(workers) as pool:
        futures = [pool.submit(_correct_safely, job) for job in jobs]
        for index, future in enumerate(futures):
            try:
                results[index] = future.result()
            except BrokenProcessPool:
                pass
    for index, result in enumerate(results):
        if result is None:
            with spawn_pool(1) as pool:
                try:
                    results[index] = pool.submit(_correct_safely, jobs[index]).result()
                except BrokenProcessPool:
                    results[index] = CorrectionResult(None, {}, WORKER_DIED)
    return results


def _correct_batch_mjx(jobs, config: ControllerConfig) -> list[CorrectionResult]:
    """A list with ``backend="mjx"``: each clip is planned, then all are simulated together (``mjx.simulate_batch``,
    one compiled call per length bucket); each report's ``seconds`` is its planning plus its share of the batch."""
    from .backends import mjx

    results: list[CorrectionResult | None] = [None] * len(jobs)
    pending = []
    for index, (item, fps, normalized, mean, std, _) in enumerate(jobs):
        start = time.perf_counter()
        try:
            joints, fps, form = _as_joints(item, fps, normalized, mean, std)
            joints, fps = _checked(joints, fps)
            planned = plan_motion(joints, fps, config, _default_model())
            pending.append((index, joints, fps, form, planned, time.perf_counter() - start))
        except Exception as exc:  # a batch records the failure and moves on
            results[index] = _failure(exc)
    if not pending:
        return results
    batch_start = time.perf_counter()
    clips = [entry[4] for entry in pending]
    rollouts = mjx.simulate_batch([c.model for c in clips], [c.plan for c in clips], config, errors=True)
    share = (time.perf_counter() - batch_start) / len(pending)
    for (index, joints, fps, form, planned, seconds), rollout in zip(pending, rollouts, strict=True):
        if isinstance(rollout, Exception):
            results[index] = _failure(rollout)
            continue
        item, _, normalized, mean, std, _ = jobs[index]
        out, report = _finish(joints, fps, config, planned, rollout, time.perf_counter() - seconds - share)
        results[index] = CorrectionResult(_to_form(out, fps, form, item, normalized, mean, std), report)
    return results


def correct(motion, *, fps=None, normalized=False, mean=None, std=None, workers: int = 1, **options):
    """Physics-correct a motion, or a list of motions.

    ``motion``: a ``Motion``, joints (T, 22, 3) (Y-up, metres, at ``fps``, default 20) or HumanML3D features
    (T, 263) (``normalized=True`` with the dataset's ``mean`` and ``std`` if they are z-normalised).
    ``options`` are ``ControllerConfig`` fields (e.g. ``assist_force=0``, ``on_fall="stop"``, ``backend="mjx"``).

    Returns a ``CorrectionResult`` whose ``.motion`` has the input's form and whose ``.report`` holds falls,
    resets, assist statistics (N, N m), ``mpjpe_mm`` to the input and ``metrics_before``/``metrics_after``,
    ``centroidal_shift_mm``, how far the centroidal projection moved the reference's root on average, and how
    physical the tracked reference is: ``reference_residual_mean_n``/``_nm``, the root force and torque its
    motion needs beyond what its foot contacts can supply, and ``reference_over_cap``, the fraction of time that
    need exceeds the assist caps (a clip needing more cannot be tracked closely without falling or lagging);
    with ``centroidal=False`` these describe the input itself.
    A single input raises ``ValueError`` on bad input; a list returns one result per item, run in parallel
    over ``workers`` processes, with ``.ok == False`` and ``.error`` for the items that failed (an item whose
    worker process dies, e.g. out of memory, fails alone: the others are finished or redone); with
    ``backend="mjx"`` a list is simulated as one batch in this process instead (``workers`` is not used).
    """
    config = ControllerConfig().with_options(**options)  # unknown or invalid options fail before any work
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(motion, (list, tuple)):
        jobs = [(item, fps, normalized, mean, std, options) for item in motion]
        if config.backend == "mjx":
            return _correct_batch_mjx(jobs, config)
        if workers == 1 or len(jobs) <= 1:
            return [_correct_safely(job) for job in jobs]
        return _correct_in_pool(jobs, workers)
    return _correct_item((motion, fps, normalized, mean, std, options))
