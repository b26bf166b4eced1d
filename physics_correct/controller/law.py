"""The per-step control law: array functions of the model constants, the plan and the state, nothing else.

``control`` turns (plan, step, pelvis pose, feet poses, feet loads) into actuator controls:

- PD targets with velocity feed-forward, and the weight-support feed-forward torques of the plan (added to
  the position targets as tau / kp);
- the **balance layer**: for each foot in contact in the reference and loaded in the simulation, the
  leg's PD targets are re-solved (one damped least squares step on the plan's leg Jacobian) so that, with
  the foot where it really is, the stiff leg holds the pelvis at its reference pose. The pelvis is thus
  pushed back over the support through the stance legs by the implicit PD of the actuators, instead of by
  explicit torques that could fight the contacts (a closed-loop whole-body inverse dynamics was tried first
  and tracked worse: its torques assume contact forces the feet do not deliver). The correction grows with
  the foot's load (``FULL_LOAD``): a foot that has just touched down is not yet pushed, so it does not slide.
- **swing-foot placement**: for a foot in the air in the reference, the leg's targets are re-solved so that,
  carried by the pelvis where it really is, the foot follows its reference pose in the world and lands
  where the reference plants it, not where a lagging pelvis would put it.

Only indexing and small linear algebra on arrays, so an MJX backend can run the same law under ``jax.vmap``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import humanoid
from .plan import Plan, leg_hinge_dofs

BALANCE_DAMPING = 1e-3  # damped least squares on the leg Jacobian
BALANCE_MAX_CHANGE = 0.3  # rad, largest change of a leg target per control step
FULL_LOAD = 0.3  # fraction of body weight on a foot from which its stance correction applies fully


@dataclass(frozen=True)
class LawConstants:
    """Model constants of the law: hinge actuator ids and kp, actuator ids of each leg's hinges (2, 9), and
    whether the balance layer is on."""

    hinge_act: np.ndarray
    kp: np.ndarray
    leg_act: np.ndarray
    balance: bool

    @classmethod
    def of(cls, model, balance: bool = True) -> LawConstants:
        hinge_act = humanoid.hinge_actuator_ids(model)
        leg_act = hinge_act[leg_hinge_dofs(model) - 6]
        return cls(hinge_act, model.actuator_gainprm[hinge_act, 0].copy(), leg_act, balance)


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
    ctrl[consts.hinge_act] += plan.tau_ff[k] / consts.kp
    if consts.balance:
        stance_error = foot_pose_error(plan, k, foot_pose)
        swing_error = foot_pose_error(plan, k, carried_feet(plan, k, root))
        for side in range(2):
            support = plan.weights[k, side] * min(1.0, loads[side] / FULL_LOAD)
            target = support * stance_error[side] - (1.0 - plan.weights[k, side]) * swing_error[side]
            jac = plan.leg_jac[k, side]
            step = jac.T @ np.linalg.solve(jac @ jac.T + BALANCE_DAMPING * np.eye(6), target)
            ctrl[consts.leg_act[side]] += np.clip(step, -BALANCE_MAX_CHANGE, BALANCE_MAX_CHANGE)
    return ctrl


def body_error(body_pos, ref_body_pos, xp=np):
    """Mean distance (m) between simulated and reference joint-body positions (..., 22, 3)."""
    return xp.mean(xp.linalg.norm(body_pos - ref_body_pos, axis=-1), axis=-1)
