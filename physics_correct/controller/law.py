"""The per-step control law: array functions of the model constants, the plan and the state, nothing else.

``control`` turns (plan, step, pelvis pose, feet poses, feet loads) into actuator controls:

- PD targets with velocity feed-forward, and the weight-support feed-forward of the plan for the support the
  simulation really has (the feet loaded now, ``PLANTED_LOAD``): its joint torques are added to the position
  targets as tau / kp, its root residual to the root-assist targets the same way. A foot that lands late or
  lifts early is thus never given the torques of a loaded leg, which kicked it along the floor (the mean
  Phys-Err added to 17 clean locomotion clips of the embedded dataset fell from 8.1 to 5.8 mm);
- the **balance layer**: for each foot in contact in the reference and loaded in the simulation, the
  leg's PD targets are re-solved (one damped least squares step on the plan's leg Jacobian) so that, with
  the foot where it really is, the stiff leg holds the pelvis at its reference pose. The pelvis is thus
  pushed back over the support through the stance legs by the implicit PD of the actuators, instead of by
  explicit torques that could fight the contacts (a closed-loop whole-body inverse dynamics was tried first
  and tracked worse: its torques assume contact forces the feet do not deliver). The correction grows with
  the foot's load (``FULL_LOAD``): a foot that has just touched down is not yet pushed, so it does not slide.
  Only the foot's pitch is not taken as it is (``STANCE_ERROR_AXES``): a stance foot rocked onto its heel or
  toes is pressed back to the reference pitch by its ankle instead of becoming the leg's new base.
- **swing-foot placement**: for a foot in the air in the reference, the leg's targets are re-solved so that,
  carried by the pelvis where it really is, the foot lands halfway between where the reference plants it and
  where the reference leg on the lagging pelvis would put it (``SWING_ERROR_AXES``), with the reference's
  orientation.

``assist_limits`` shares the assist's force and torque caps between its axes at each step, so the caps hold
for the magnitudes, not per axis.

Only indexing and small linear algebra on arrays, so an MJX backend can run the same law under ``jax.vmap``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import humanoid
from .balance import support_index
from .plan import Plan, leg_hinge_dofs

BALANCE_DAMPING = 1e-3  # damped least squares on the leg Jacobian
BALANCE_MAX_CHANGE = 0.3  # rad, largest change of a leg target per control step
FULL_LOAD = 0.3  # fraction of body weight on a foot from which its stance correction applies fully
PLANTED_LOAD = 0.05  # fraction of body weight on a foot from which it counts as planted in the simulation
# Which parts of a stance foot's pose error (position, then rotation about the pelvis's x (lateral: pitch), y, z
# axes) the balance layer re-solves the leg for. Leaving out the pitch, a heel rise is left to the ankle: on the
# jogs, runs and walks of three seeds of the embedded dataset the added Phys-Err fell from 4.7, 5.3 and 2.5 mm to
# 4.2, 5.0 and 2.2, and the runs' mean joint error from 69 to 58 mm (standing unchanged); leaving out the whole
# rotation helped the runs a little more but added 2 mm of joint error when standing.
STANCE_ERROR_AXES = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
# How much of a swing foot's pose error (position, rotation) the balance layer corrects. Half the position: a foot
# put fully on the reference's landing spot braked a lagging body at each touchdown; on the jogs / runs / walks /
# jumps of generator seeds 0-9 the added Phys-Err fell from 2.95 / 3.41 / 1.80 / 2.20 mm to 2.68 / 3.15 / 1.63 /
# 2.02 and the joint error of jogs and runs from 35 / 56 to 32 / 51 mm. Following the pelvis fully, or 0.7 of its
# height, made jumps fall.
SWING_ERROR_AXES = np.array([0.5, 0.5, 0.5, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class LawConstants:
    """Model constants of the law: hinge actuator ids and kp, actuator ids of each leg's hinges (2, 9), the
    root-assist actuator ids, kp and kv, and whether the balance layer is on."""

    hinge_act: np.ndarray
    kp: np.ndarray
    leg_act: np.ndarray
    assist_act: np.ndarray
    assist_kp: np.ndarray
    assist_kv: np.ndarray
    balance: bool

    @classmethod
    def of(cls, model, balance: bool = True) -> LawConstants:
        hinge_act = humanoid.hinge_actuator_ids(model)
        leg_act = hinge_act[leg_hinge_dofs(model) - 6]
        assist_act = humanoid.assist_actuator_ids(model)
        gains = model.actuator_gainprm[:, 0]
        assist_kp, assist_kv = gains[assist_act].copy(), -model.actuator_biasprm[assist_act, 2]
        return cls(hinge_act, gains[hinge_act].copy(), leg_act, assist_act, assist_kp, assist_kv, balance)


def _conj(q):
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _quat_mul(a, b):
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def _quat_to_rotvec(q):
    q = q if q[0] >= 0 else -q
    sin = np.linalg.norm(q[1:])
    return q[1:] * (2.0 * np.arctan2(sin, q[0]) / sin if sin > 1e-12 else 2.0)


def _matrix(q):
    """Rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def foot_pose_error(plan: Plan, k: int, foot_pose) -> np.ndarray:
    """Pose error (2, 6) of feet poses (2, 7) from the reference feet, in the reference pelvis frame."""
    to_pelvis = _matrix(plan.qpos[k, 3:7]).T
    error = np.empty((2, 6))
    for side in range(2):
        ref = plan.foot_pose[k, side]
        turn = _matrix(ref[3:]) @ _quat_to_rotvec(_quat_mul(_conj(ref[3:]), foot_pose[side, 3:]))  # world frame
        error[side, :3] = to_pelvis @ (foot_pose[side, :3] - ref[:3])
        error[side, 3:] = to_pelvis @ turn
    return error


def carried_feet(plan: Plan, k: int, root) -> np.ndarray:
    """Where the feet (2, 7) would be with the reference leg angles on the simulated pelvis ``root`` (7,)."""
    ref_root = plan.qpos[k, :7]
    turn = _quat_mul(root[3:], _conj(ref_root[3:]))
    turn_matrix = _matrix(turn)
    feet = np.empty((2, 7))
    for side in range(2):
        ref = plan.foot_pose[k, side]
        feet[side, :3] = root[:3] + turn_matrix @ (ref[:3] - ref_root[:3])
        feet[side, 3:] = _quat_mul(turn, ref[3:])
    return feet


def control(consts: LawConstants, plan: Plan, k: int, root, foot_pose, loads) -> np.ndarray:
    """Actuator controls (nu,) for control step ``k``: simulated pelvis pose ``root`` (7,), feet poses
    ``foot_pose`` (2, 7) and the normal force on each foot as a fraction of body weight ``loads`` (2,)."""
    ctrl = plan.ctrl[k].copy()
    support = support_index(*(np.asarray(loads) > PLANTED_LOAD))
    ctrl[consts.hinge_act] += plan.tau_ff[k, support] / consts.kp
    ctrl[consts.assist_act] += plan.root_residual[k, support] / consts.assist_kp
    if consts.balance:
        stance_error = foot_pose_error(plan, k, foot_pose) * STANCE_ERROR_AXES
        swing_error = foot_pose_error(plan, k, carried_feet(plan, k, root)) * SWING_ERROR_AXES
        for side in range(2):
            support = plan.weights[k, side] * min(1.0, loads[side] / FULL_LOAD)
            target = support * stance_error[side] - (1.0 - plan.weights[k, side]) * swing_error[side]
            jac = plan.leg_jac[k, side]
            step = jac.T @ np.linalg.solve(jac @ jac.T + BALANCE_DAMPING * np.eye(6), target)
            ctrl[consts.leg_act[side]] += np.clip(step, -BALANCE_MAX_CHANGE, BALANCE_MAX_CHANGE)
    return ctrl


def assist_limits(consts: LawConstants, ctrl, length, velocity, force_cap: float, torque_cap: float) -> np.ndarray:
    """Per-axis limits (6,) of the root-assist actuators for one control step, from the controls ``ctrl`` (nu,)
    and the assist actuators' ``length`` and ``velocity`` (6,): each cap (N, N m) is shared between its three axes
    in proportion to the force each is about to apply. The limits are a box inscribed in the ball of radius cap
    along the force's direction, so the force and the torque never exceed their caps in magnitude, while the
    actuators keep their implicit damping."""
    push = consts.assist_kp * (ctrl[consts.assist_act] - length) - consts.assist_kv * velocity
    limits = np.empty(6)
    for axes, cap in ((slice(0, 3), force_cap), (slice(3, 6), torque_cap)):
        norm = np.linalg.norm(push[axes])
        limits[axes] = cap * np.abs(push[axes]) / norm if norm > 0 else cap / np.sqrt(3)
    return limits


def body_error(body_pos, ref_body_pos, xp=np):
    """Mean distance (m) between simulated and reference joint-body positions (..., 22, 3)."""
    return xp.mean(xp.linalg.norm(body_pos - ref_body_pos, axis=-1), axis=-1)
