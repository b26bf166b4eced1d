"""Run controller plans in MJX (MuJoCo in JAX): the CPU backend's loop as one compiled function.

The same plan and control law as ``mujoco_cpu``, written over JAX arrays: ``jax.lax.scan`` over control steps,
``jax.vmap`` over the clips of one length bucket (plans padded to the bucket length by repeating their last
step), ``jax.jit`` once per model structure, bucket length and batch size (JAX caches the compiled function; the
clips' models may differ only in their body offsets, as ``retarget.with_offsets`` makes them: one model goes to
the device and each clip's ``body_pos`` is swapped in under ``vmap``).

Per control step, as on the CPU: forward kinematics, the body error to the reference, a reset on the reference
state when it exceeds ``fall_distance`` (``lax.cond``, a select under ``vmap``), the control law with the feet
loads taken from the contact forces of the last physics step, the root-assist caps shared between the axes
(written into the model's ``actuator_forcerange`` for the step), then ``control_substeps`` physics steps. In mode
"mpc" the sampling planner of ``sampling_mpc`` picks the hinge-target offsets every ``mpc_replan`` steps: its
candidates' closed-loop rollouts (``candidate_costs``) are vmapped, and the replanning is a ``lax.cond`` on the
step index, which is not batched, so it stays a branch under the clips' ``vmap``.

What differs from the CPU backend:
- ``on_fall="stop"`` and instability cannot end a compiled loop: the loop always resets at a fall and runs to
  its end; afterwards the first fall (with "stop") or the first unstable step raises the same ``SimulationError``.
- The MPC planner's noise is drawn by JAX (keyed by ``mpc_seed``), so it picks other candidates than the CPU
  planner; near a clip's end its rollouts run on over the padded last step instead of a shorter horizon.
- JAX computes in float32 and MJX's solver and contact pairs are its own, so trajectories are close to the CPU
  ones, not equal (see tests/test_mjx.py for the measured gap and the tolerance).
- After a reset (and at the start) the CPU raises the body out of the floor by the exact penetration depth, so
  whether its lowest geom still touches (and loads its foot for the first control step) depends on a 1e-17 m
  rounding; here the body is raised ``RESET_CLEARANCE`` more, so that foot is never loaded. Where the CPU's
  rounding falls the other way, the first step's support and root assist differ (up to the force cap for one
  control step), the trajectories barely.

Needs the ``mjx`` extra (``mujoco-mjx``, ``jax``). On a CPU, JIT compiling takes about 2 minutes per batch size
and bucket, and a compiled run is still ~20x slower than the CPU backend (benchmarks/bench_mjx.py): MJX pays off
only batched on a GPU (``simulate_batch``; ``correct`` batches a list with ``backend="mjx"``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .. import humanoid
from ..controller.balance import FootModel
from ..controller.config import ControllerConfig
from ..controller.law import (
    BALANCE_DAMPING,
    BALANCE_MAX_CHANGE,
    FULL_LOAD,
    PLANTED_LOAD,
    STANCE_ERROR_AXES,
    SWING_ERROR_AXES,
    LawConstants,
)
from ..controller.plan import Plan
from . import SimulationError
from .mujoco_cpu import MAX_QVEL, Rollout
from .sampling_mpc import ASSIST_WEIGHT, HEIGHT_WEIGHT, OFFSET_WEIGHT, horizon_steps, knot_offsets

BUCKET_STEPS = 64  # control steps of the shortest length bucket; buckets double from there
# m, extra lift when a reset raises the body out of the floor (exactly touching is a rounding either way; see above)
RESET_CLEARANCE = 1e-6
PYRAMID_EDGES = 4  # constraint rows of a condim-3 contact with pyramidal friction cones
# Model fields that must be equal across the clips of one batch (only body offsets may differ).
SHARED_MODEL_FIELDS = ("body_mass", "body_inertia", "geom_size", "geom_pos", "jnt_range", "actuator_gainprm")
# Per-step plan arrays the compiled loop reads (as a dict, one step at a time).
PLAN_FIELDS = ("ctrl", "tau_ff", "root_residual", "weights", "qpos", "qvel", "body_pos", "foot_pose", "leg_jac")


def _jax():
    try:
        import jax
        from mujoco import mjx
    except ImportError:
        raise ValueError("backend='mjx' needs the 'mjx' extra: pip install 'physics-corrected-motion[mjx]'") from None
    return jax, mjx


@dataclass(frozen=True)
class Static:
    """What the compiled loop takes as constants (hashable, so it keys the compile cache): law indices and
    gains, body and actuator ids, the foot of each geom, body weight (N), the balance flag and the substeps.
    The fall distance and the caps are traced (``_limits``), so changing them does not recompile."""

    hinge_act: tuple
    kp: tuple
    leg_act: tuple
    assist_act: tuple
    assist_kp: tuple
    assist_kv: tuple
    balance: bool
    joint_bodies: tuple
    foot_bodies: tuple
    mocap_ids: tuple
    geom_foot: tuple
    weight: float
    substeps: int
    elliptic: bool
    pelvis: int
    mpc: tuple | None  # (samples, horizon in control steps, replan interval) in mode "mpc", else None

    @classmethod
    def of(cls, model, config: ControllerConfig) -> Static:
        import mujoco

        consts = LawConstants.of(model, balance=config.balance)
        feet = FootModel.of(model)
        rate = 1.0 / (model.opt.timestep * config.control_substeps)

        def tup(values):
            return tuple(np.asarray(values).tolist())

        return cls(
            hinge_act=tup(consts.hinge_act),
            kp=tup(consts.kp),
            leg_act=tuple(tup(row) for row in consts.leg_act),
            assist_act=tup(consts.assist_act),
            assist_kp=tup(consts.assist_kp),
            assist_kv=tup(consts.assist_kv),
            balance=config.balance,
            joint_bodies=tup(humanoid.joint_body_ids(model)),
            foot_bodies=tup(feet.foot_ids),
            mocap_ids=tuple(int(model.body(n).mocapid[0]) for n in ("assist_pos", "assist_rot")),
            geom_foot=tup(feet.geom_foot),
            weight=feet.weight,
            substeps=config.control_substeps,
            elliptic=int(model.opt.cone) == mujoco.mjtCone.mjCONE_ELLIPTIC,
            pelvis=int(model.body("pelvis").id),
            mpc=(config.mpc_samples, horizon_steps(config, rate), config.mpc_replan) if config.mode == "mpc" else None,
        )


def _limits(model, config: ControllerConfig) -> np.ndarray:
    """The traced settings of the loop: (fall distance (m), assist force cap (N), assist torque cap (N m), MPC
    offset sigma (rad))."""
    force_cap = config.assist_force * humanoid.body_weight(model)
    return np.array([config.fall_distance, force_cap, config.assist_torque, config.mpc_sigma], dtype=np.float32)


# --- the control law over jax arrays (mirrors controller/law.py) ---


def _conj(q):
    import jax.numpy as jnp

    return q * jnp.array([1.0, -1.0, -1.0, -1.0])


def _quat_mul(a, b):
    import jax.numpy as jnp

    w1, x1, y1, z1 = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    w2, x2, y2, z2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return jnp.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def _quat_to_rotvec(q):
    import jax.numpy as jnp

    q = jnp.where(q[..., :1] >= 0, q, -q)
    sin = jnp.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    small = sin <= 1e-12
    scale = jnp.where(small, 2.0, 2.0 * jnp.arctan2(sin, q[..., :1]) / jnp.where(small, 1.0, sin))
    return q[..., 1:] * scale


def _matrix(q):
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    import jax.numpy as jnp

    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(row, axis=-1) for row in rows], axis=-2)


def foot_pose_error(ref_qpos, ref_feet, feet):
    """``law.foot_pose_error`` for one step: feet poses (2, 7) against the reference feet (2, 7) -> (2, 6)."""
    import jax.numpy as jnp

    to_pelvis = _matrix(ref_qpos[3:7]).T
    turn = jnp.einsum(
        "sij,sj->si", _matrix(ref_feet[:, 3:]), _quat_to_rotvec(_quat_mul(_conj(ref_feet[:, 3:]), feet[:, 3:]))
    )
    return jnp.concatenate([(feet[:, :3] - ref_feet[:, :3]) @ to_pelvis.T, turn @ to_pelvis.T], axis=1)


def carried_feet(ref_qpos, ref_feet, root):
    """``law.carried_feet`` for one step: the reference feet (2, 7) carried by the simulated pelvis ``root``."""
    import jax.numpy as jnp

    turn = _quat_mul(root[3:], _conj(ref_qpos[3:7]))
    position = root[:3] + (ref_feet[:, :3] - ref_qpos[:3]) @ _matrix(turn).T
    return jnp.concatenate([position, _quat_mul(turn, ref_feet[:, 3:])], axis=1)


def control(static: Static, step: dict, root, foot_pose, loads):
    """``law.control`` for one step: ``step`` holds the plan's arrays at that step (``PLAN_FIELDS``)."""
    import jax.numpy as jnp

    hinge, assist = np.array(static.hinge_act), np.array(static.assist_act)
    support = jnp.sum((loads > PLANTED_LOAD) * jnp.array([1, 2]))
    ctrl = step["ctrl"].at[hinge].add(step["tau_ff"][support] / np.array(static.kp))
    ctrl = ctrl.at[assist].add(step["root_residual"][support] / np.array(static.assist_kp))
    if not static.balance:
        return ctrl
    ref_qpos, ref_feet, weights = step["qpos"], step["foot_pose"], step["weights"]
    stance_error = foot_pose_error(ref_qpos, ref_feet, foot_pose) * STANCE_ERROR_AXES
    swing_error = foot_pose_error(ref_qpos, ref_feet, carried_feet(ref_qpos, ref_feet, root)) * SWING_ERROR_AXES
    stance = weights * jnp.minimum(1.0, loads / FULL_LOAD)
    target = stance[:, None] * stance_error - (1.0 - weights)[:, None] * swing_error
    jac = step["leg_jac"]
    gram = jac @ jnp.swapaxes(jac, 1, 2) + BALANCE_DAMPING * jnp.eye(6)
    change = jnp.einsum("sij,si->sj", jac, jnp.linalg.solve(gram, target[..., None])[..., 0])
    return ctrl.at[np.array(static.leg_act)].add(jnp.clip(change, -BALANCE_MAX_CHANGE, BALANCE_MAX_CHANGE))


def assist_limits(static: Static, ctrl, length, velocity, force_cap, torque_cap):
    """``law.assist_limits``: per-axis limits (6,) sharing each cap between its axes."""
    import jax.numpy as jnp

    push = np.array(static.assist_kp) * (ctrl[np.array(static.assist_act)] - length)
    push = push - np.array(static.assist_kv) * velocity
    limits = []
    for axes, cap in ((slice(0, 3), force_cap), (slice(3, 6), torque_cap)):
        norm = jnp.linalg.norm(push[axes])
        limits.append(jnp.where(norm > 0, cap * jnp.abs(push[axes]) / jnp.where(norm > 0, norm, 1.0), cap / np.sqrt(3)))
    return jnp.concatenate(limits)


# --- the simulation ---


def _feet_loads(static: Static, d):
    """Normal contact force on each foot (left, right) / body weight, from the last physics step's contacts."""
    import jax.numpy as jnp

    contact = d._impl.contact
    if static.elliptic:  # the first constraint row of an elliptic contact is its normal force
        normal = d._impl.efc_force[np.asarray(contact.efc_address)]
    else:  # pyramidal cone: the normal force is the sum of the edges
        rows = np.asarray(contact.efc_address)[:, None] + np.arange(PYRAMID_EDGES)
        normal = d._impl.efc_force[rows].sum(axis=1)
    side = jnp.array(static.geom_foot)[contact.geom].max(axis=1)
    return jnp.stack([jnp.sum(jnp.where(side == s, normal, 0.0)) for s in (0, 1)]) / static.weight


def _set_state(mjx, m, d, qpos, qvel):
    """Put the body in a reference state, raised out of the floor if a geom starts below it."""
    import jax.numpy as jnp

    d = mjx.forward(m, d.replace(qpos=qpos, qvel=qvel, act=jnp.zeros_like(d.act)))
    depth = -jnp.min(d._impl.contact.dist)
    lift = jnp.where(depth > 0, depth + RESET_CLEARANCE, 0.0)
    return mjx.forward(m, d.replace(qpos=d.qpos.at[2].add(lift)))


def _act(static: Static, m, d, step_plan: dict, target_pos, target_quat, limits, offset):
    """One control step from an observed state (``mujoco_cpu.control_step``): the law's controls plus a
    hinge-target ``offset``, the assist caps shared between its axes, the assist targets, the physics steps."""
    import jax
    import jax.numpy as jnp

    _, mjx = _jax()
    feet, assist, mocap = np.array(static.foot_bodies), np.array(static.assist_act), np.array(static.mocap_ids)
    foot_pose = jnp.concatenate([d.xpos[feet], d.xquat[feet]], axis=1)
    ctrl = control(static, step_plan, d.qpos[:7], foot_pose, _feet_loads(static, d))
    ctrl = ctrl.at[np.array(static.hinge_act)].add(offset)
    caps = assist_limits(
        static, ctrl, d.actuator_length[assist], d._impl.actuator_velocity[assist], limits[1], limits[2]
    )
    m_step = m.replace(actuator_forcerange=m.actuator_forcerange.at[assist].set(jnp.stack([-caps, caps], 1)))
    d = d.replace(
        ctrl=ctrl,
        mocap_pos=d.mocap_pos.at[mocap].set(target_pos),
        mocap_quat=d.mocap_quat.at[mocap].set(target_quat),
    )
    return jax.lax.fori_loop(0, static.substeps, lambda _, d: mjx.step(m_step, d), d)


def candidate_costs(static: Static, m, d, limits, k, candidates, plan: dict, mocap_pos, mocap_quat):
    """``SamplingPlanner._rollouts``: the cost (n,) of the closed-loop rollout of each candidate's knots (n, 2,
    hinges) from the observed state ``d`` at control step ``k`` (vmapped over the candidates). Near the clip's end
    the rollouts run on over its padded last step (the CPU planner shortens the horizon instead)."""
    import jax
    import jax.numpy as jnp

    _, mjx = _jax()
    horizon = static.mpc[1]
    ids, assist = np.array(static.joint_bodies), np.array(static.assist_act)
    window = jax.tree_util.tree_map(lambda a: jax.lax.dynamic_slice_in_dim(a, k, horizon + 1), plan)
    targets = [jax.lax.dynamic_slice_in_dim(a, k, horizon) for a in (mocap_pos, mocap_quat)]
    steps = jax.tree_util.tree_map(lambda a: a[:horizon], window)

    def cost(candidate):
        def body(d, xs):
            step_plan, ref, target_pos, target_quat, offset = xs
            d = mjx.kinematics(m, _act(static, m, d, step_plan, target_pos, target_quat, limits, offset))
            sag = jnp.maximum(0.0, ref[0, 2] - d.xpos[static.pelvis, 2])
            force = d.actuator_force[assist[:3]] / static.weight
            error = jnp.mean(jnp.sum((d.xpos[ids] - ref) ** 2, axis=1))
            value = error + HEIGHT_WEIGHT * sag**2 + ASSIST_WEIGHT * jnp.sum(force**2)
            return d, jnp.where(jnp.all(jnp.isfinite(d.qvel)), value, jnp.inf)

        xs = (steps, window["body_pos"][1:], *targets, knot_offsets(candidate, horizon, horizon))
        return jnp.mean(jax.lax.scan(body, d, xs)[1])

    return jax.vmap(cost)(candidates)


def _replan(static: Static, m, d, limits, key, k, knots, plan: dict, mocap_pos, mocap_quat):
    """``SamplingPlanner._replan`` at control step ``k``: the knots (2, hinges) of the cheapest candidate (the
    previous best shifted, none, and Gaussian perturbations of the previous best drawn by JAX from ``key``)."""
    import jax
    import jax.numpy as jnp

    samples, horizon, replan = static.mpc
    shift = knot_offsets(knots, horizon, horizon)[min(replan, horizon - 1)]
    warm = jnp.stack([shift, knots[1]])
    noise = limits[3] * jax.random.normal(jax.random.fold_in(key, k), (samples, *warm.shape))
    candidates = (warm[None] + noise).at[0].set(warm).at[1].set(0.0)
    costs = candidate_costs(static, m, d, limits, k, candidates, plan, mocap_pos, mocap_quat)
    return candidates[jnp.argmin(costs + OFFSET_WEIGHT * jnp.mean(candidates**2, axis=(1, 2)))]


def _run_clip(static: Static, m, d, limits, key, offsets, plan: dict, mocap_pos, mocap_quat):
    """Track one (padded) plan with the model's body offsets ``offsets`` (nbody, 3): per-step outputs qpos,
    body_pos, assist, error, fell, unstable. In mode "mpc" the plan is padded by one horizon more, and every
    ``mpc_replan`` steps the sampling planner picks the hinge-target offsets the law gets until the next."""
    import jax
    import jax.numpy as jnp

    _, mjx = _jax()
    m = m.replace(body_pos=offsets)
    ids, assist = np.array(static.joint_bodies), np.array(static.assist_act)
    length = len(mocap_pos) - (static.mpc[1] if static.mpc else 0)  # control steps tracked

    def step(carry, xs):
        d, knots = carry
        k, step_plan, target_pos, target_quat = xs
        d = mjx.kinematics(m, d)
        error = jnp.mean(jnp.linalg.norm(d.xpos[ids] - step_plan["body_pos"], axis=-1))
        fell = error > limits[0]
        d = jax.lax.cond(fell, lambda: _set_state(mjx, m, d, step_plan["qpos"], step_plan["qvel"]), lambda: d)
        qpos, body_pos = d.qpos, d.xpos[ids]
        offset = jnp.zeros(len(static.hinge_act))
        if static.mpc:  # k is not batched, so this cond stays a branch under vmap: the planner runs when due
            _, horizon, replan = static.mpc
            args = (static, m, d, limits, key, k, knots, plan, mocap_pos, mocap_quat)
            knots = jax.lax.cond(k % replan == 0, lambda: _replan(*args), lambda: knots)
            offset = knot_offsets(knots, horizon, horizon)[jnp.minimum(k % replan, horizon - 1)]
        d = _act(static, m, d, step_plan, target_pos, target_quat, limits, offset)
        unstable = ~(jnp.all(jnp.isfinite(d.qvel)) & (jnp.max(jnp.abs(d.qvel)) < MAX_QVEL))
        return (d, knots), (qpos, body_pos, d.actuator_force[assist], error, fell, unstable)

    d = _set_state(mjx, m, d, plan["qpos"][0], plan["qvel"][0])
    tracked = jax.tree_util.tree_map(lambda a: a[:length], (plan, mocap_pos, mocap_quat))
    knots = jnp.zeros((2, len(static.hinge_act)))
    _, outputs = jax.lax.scan(step, (d, knots), (jnp.arange(length), *tracked))
    return outputs


@functools.cache
def _compiled(static: Static):
    """The jitted, clip-vmapped loop for one ``Static`` (JAX caches it further per shapes and model structure)."""
    jax, _ = _jax()
    return jax.jit(jax.vmap(functools.partial(_run_clip, static), in_axes=(None, None, None, None, 0, 0, 0, 0)))


def bucket_length(num_steps: int) -> int:
    """Padded length of a plan: ``BUCKET_STEPS`` doubled until it holds ``num_steps``."""
    length = BUCKET_STEPS
    while length < num_steps:
        length *= 2
    return length


def _pad(values: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([values, np.repeat(values[-1:], length - len(values), axis=0)])


def _stacked_inputs(models, plans: list[Plan], config: ControllerConfig, length: int):
    """The loop's inputs: the shared mjx model and data, limits, the MPC noise key, and per clip the body offsets
    and the plan arrays (float32) padded to ``length`` steps."""
    jax, mjx = _jax()
    for model in models[1:]:
        for name in SHARED_MODEL_FIELDS:
            if not np.array_equal(getattr(model, name), getattr(models[0], name)):
                raise ValueError(f"the models of one MJX batch may differ only in body offsets, not in {name}")
    mx = mjx.put_model(models[0])
    offsets = np.stack([model.body_pos for model in models]).astype(np.float32)

    def stack(name):
        return np.stack([_pad(getattr(plan, name), length) for plan in plans]).astype(np.float32)

    arrays = {name: stack(name) for name in PLAN_FIELDS}
    limits = _limits(models[0], config)
    key = jax.random.PRNGKey(config.mpc_seed)
    return mx, mjx.make_data(mx), limits, key, offsets, arrays, stack("mocap_pos"), stack("mocap_quat")


def simulate_batch(models, plans: list[Plan], config: ControllerConfig, errors: bool = False) -> list:
    """Track several plans at once (one model per plan, differing only in body offsets), in one compiled call per
    length bucket; returns one ``Rollout`` per plan, as ``mujoco_cpu.simulate`` would. A clip that falls with
    ``on_fall="stop"`` or becomes unstable raises its ``SimulationError``, or with ``errors=True`` gets it in its
    place in the list."""
    if len(models) != len(plans) or not plans:
        raise ValueError(f"simulate_batch needs one model per plan, got {len(models)} models and {len(plans)} plans")
    rates = {(plan.rate, plan.substeps) for plan in plans}
    if len(rates) != 1 or plans[0].substeps != config.control_substeps:
        raise ValueError(f"all plans must share one control rate and config.control_substeps, got {sorted(rates)}")
    static = Static.of(models[0], config)
    run = _compiled(static)
    rollouts: list[Rollout | SimulationError | None] = [None] * len(plans)
    buckets: dict[int, list[int]] = {}
    for index, plan in enumerate(plans):
        buckets.setdefault(bucket_length(plan.num_steps), []).append(index)
    for length, indices in sorted(buckets.items()):
        padded = length + (static.mpc[1] if static.mpc else 0)  # the planner's rollouts look one horizon ahead
        inputs = _stacked_inputs([models[i] for i in indices], [plans[i] for i in indices], config, padded)
        outputs = [np.asarray(out) for out in run(*inputs)]
        for row, index in enumerate(indices):
            try:
                rollouts[index] = _rollout(
                    plans[index], config, *(out[row, : plans[index].num_steps] for out in outputs)
                )
            except SimulationError as exc:
                if not errors:
                    raise
                rollouts[index] = exc
    return rollouts


def _rollout(plan: Plan, config: ControllerConfig, qpos, body_pos, assist, error, fell, unstable) -> Rollout:
    """The ``Rollout`` of one clip's outputs, raising where the CPU backend would have stopped."""
    falls = tuple(int(k) for k in np.flatnonzero(fell))
    bad = np.flatnonzero(unstable)
    if config.on_fall == "stop" and falls and not (len(bad) and bad[0] < falls[0]):
        k = falls[0]
        raise SimulationError(
            f"the humanoid fell at {k / plan.rate:.2f} s (mean body error {error[k]:.2f} m > "
            f"{config.fall_distance} m); use on_fall='reset' to reset and continue"
        )
    if len(bad):
        raise SimulationError(
            f"the simulation became unstable at {bad[0] / plan.rate:.2f} s; check the input for absurd poses or "
            "lower the timestep"
        )
    as_float = functools.partial(np.asarray, dtype=np.float64)
    return Rollout(
        qpos=as_float(qpos), body_pos=as_float(body_pos), assist=as_float(assist), error=as_float(error), falls=falls
    )


def simulate(model, plan: Plan, config: ControllerConfig) -> Rollout:
    """Track one plan in MJX; the same contract as ``mujoco_cpu.simulate``."""
    return simulate_batch([model], [plan], config)[0]
