"""Centroidal feasibility of the reference: move its centre of mass, as little as possible, onto a path its own
foot contacts can drive.

A kinematic clip (generated, or interpolated from 20 fps) often asks for centre-of-mass accelerations no contact
force can give: a flight that does not fall at g, a runner who keeps full speed while the landing foot is far
ahead of the body, a take-off without the push that the flight after it needs. Tracked as they are, these cost
root assist, or falls where the assist is capped. Here, at the control rate, the reference's centre of mass c
gets an offset d (the root is translated; stance feet are re-solved to stay where they were) that minimises

    sum |d|^2  +  ACCEL_WEIGHT sum |d''|^2  +  VIOLATION_WEIGHT sum dist(d'', allowed)^2

where the allowed extra accelerations come from Newton-Euler about the centre of mass:

- **flight** (no sole point on the floor, between two contacts, at most ``MAX_FLIGHT`` s): c'' = gravity;
- **stance**: the floor pushes (c''_z >= -g) and the total ground force F = m (c'' + g) acts at a centre of
  pressure p inside the box spanned by the sole points on the floor, so its moment about c equals the rate of the
  reference's angular momentum L' (from its limbs and trunk): F_x = ((c_x - p_x) F_z - L'_y) / h and
  F_y = ((c_y - p_y) F_z + L'_x) / h with h the height of c over the floor; each horizontal component also stays
  inside the friction pyramid. The bounds are widened by ``CAP_SHARE`` of the root-assist caps, so the
  projection removes what the assist could not supply and leaves the rest, with a margin for feedback.

The vertical offset is solved first, then each horizontal axis with the ground force it implies. The constraints
are soft on purpose: a hard projection of a reference whose feet are placed for a different body diverges like
the inverted pendulum it is. Each least-squares problem is pentadiagonal and solved by an active-set iteration.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.linalg import solveh_banded

from .. import humanoid
from ..retarget import Reference
from .balance import FootModel, supporting_points
from .plan import leg_hinge_dofs

MAX_FLIGHT = 0.6  # s; a longer time with no foot on the floor is not treated as a ballistic flight
ACCEL_WEIGHT = 1e-6  # m^2 per (m/s^2)^2: 1 m/s^2 of extra acceleration costs as much as 1 mm of offset
VIOLATION_WEIGHT = 1e-2  # m^2 per (m/s^2)^2 of acceleration outside what the contacts allow
CAP_SHARE = 0.5  # share of the root-assist caps the projected reference may still ask for
MIN_HEIGHT = 0.3  # m, floor on the centre of mass height in the moment balance
ACTIVE_SET_ITERATIONS = 30
FOOT_IK_ITERATIONS = 3
FOOT_IK_DAMPING = 1e-4


def _centroidal_state(feet: FootModel, reference: Reference, weights: np.ndarray):
    """Per control step: centre of mass (N, 3), angular momentum about it (N, 3), and the box (N, 2) low and high
    corners of the supporting sole points (NaN with none) with their mean height (N,)."""
    import mujoco

    model = feet.free_model
    data = mujoco.MjData(model)
    root = model.body("pelvis").id
    num = len(reference.qpos)
    com, momentum = np.empty((num, 3)), np.empty((num, 3))
    low, high, floor = np.full((num, 2), np.nan), np.full((num, 2), np.nan), np.zeros(num)
    for k in range(num):
        data.qpos[:], data.qvel[:] = reference.qpos[k], reference.qvel[k]
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mj_comVel(model, data)
        mujoco.mj_subtreeVel(model, data)
        com[k], momentum[k] = data.subtree_com[root], data.subtree_angmom[root]
        points = np.array([point for _, _, point in supporting_points(feet, data, weights[k])])
        if len(points):
            low[k], high[k], floor[k] = points[:, :2].min(axis=0), points[:, :2].max(axis=0), points[:, 2].mean()
    return com, momentum, low, high, floor


def _flights(airborne: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(flight, free) masks: airborne runs between two contacts and at most ``MAX_FLIGHT`` long are flights; the
    other airborne steps (at the ends of the clip, or too long to be ballistic) are left unconstrained."""
    flight = np.zeros_like(airborne)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], airborne.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if start > 0 and stop < len(airborne) and (stop - start) * dt <= MAX_FLIGHT:
            flight[start:stop] = True
    return flight, airborne & ~flight


def offsets(lower: np.ndarray, upper: np.ndarray, dt: float) -> np.ndarray:
    """Offsets d (N,) minimising |d|^2 + ACCEL_WEIGHT |d''|^2 + VIOLATION_WEIGHT dist(d'', [lower, upper])^2, with
    d'' the central second difference at steps 1..N-2 (bounds (N,), their end values unused; +-inf for none)."""
    num = len(lower)
    if num < 3:
        return np.zeros(num)
    lower, upper = lower[1:-1], upper[1:-1]
    scale = 1.0 / dt**2
    coef = np.array([1.0, -2.0, 1.0])
    rows = np.arange(num - 2)
    offset = np.zeros(num)
    active = None
    for _ in range(ACTIVE_SET_ITERATIONS):
        accel = scale * (offset[:-2] - 2.0 * offset[1:-1] + offset[2:])
        below, above = accel < lower, accel > upper
        state = (below.tobytes(), above.tobytes())
        if state == active:
            break
        active = state
        violated = below | above
        weight = scale**2 * (ACCEL_WEIGHT + VIOLATION_WEIGHT * violated)
        target = VIOLATION_WEIGHT * scale * np.where(below, lower, np.where(above, upper, 0.0))
        band = np.zeros((3, num))  # upper form of the pentadiagonal normal matrix I + D^T W D
        band[2] = 1.0
        rhs = np.zeros(num)
        for i in range(3):
            np.add.at(rhs, rows + i, coef[i] * target)
            for j in range(i, 3):
                np.add.at(band[2 - (j - i)], rows + j, weight * coef[i] * coef[j])
        offset = solveh_banded(band, rhs)
    return offset


def _keep_stance_feet(feet: FootModel, model, before: np.ndarray, after: np.ndarray, weights: np.ndarray):
    """Re-solve the leg hinges of ``after`` (N, nq) so each foot with support weight w keeps its pose of ``before``
    (blended: w = 1 holds it, w = 0 lets it move with the body), by damped least squares on the leg Jacobian.
    Steps whose root moved less than 0.1 mm are left as they are."""
    import mujoco

    free = feet.free_model
    data = mujoco.MjData(free)
    dofs = leg_hinge_dofs(model)
    jacp, jacr = np.zeros((3, free.nv)), np.zeros((3, free.nv))
    turn, inverse, error = np.zeros(4), np.zeros(4), np.zeros(6)
    out = after.copy()
    moved = np.linalg.norm(after[:, :3] - before[:, :3], axis=1) > 1e-4
    for k in np.flatnonzero(moved & (weights.max(axis=1) > 0)):
        data.qpos[:] = before[k]
        mujoco.mj_kinematics(free, data)
        goals = [(data.xpos[body].copy(), data.xquat[body].copy()) for body in feet.foot_ids]
        for _ in range(FOOT_IK_ITERATIONS):
            data.qpos[:] = out[k]
            mujoco.mj_kinematics(free, data)
            mujoco.mj_comPos(free, data)
            for side, body in enumerate(feet.foot_ids):
                weight = weights[k, side]
                if weight <= 0:
                    continue
                error[:3] = weight * (goals[side][0] - data.xpos[body])
                mujoco.mju_negQuat(inverse, data.xquat[body])
                mujoco.mju_mulQuat(turn, goals[side][1], inverse)
                mujoco.mju_quat2Vel(error[3:], turn, 1.0)
                error[3:] *= weight
                mujoco.mj_jacBody(free, data, jacp, jacr, body)
                jac = np.concatenate([jacp[:, dofs[side]], jacr[:, dofs[side]]])
                out[k, dofs[side] + 1] += jac.T @ np.linalg.solve(jac @ jac.T + FOOT_IK_DAMPING * np.eye(6), error)
    return out


def feasible_reference(
    model, reference: Reference, weights: np.ndarray, assist_force_n: float, assist_torque_nm: float, feet=None
) -> tuple[Reference, np.ndarray]:
    """The reference with its centre of mass moved onto a path its contacts can drive (module docstring), and the
    root offset (N, 3) applied; ``weights`` (N, 2) are the feet's support weights at the control steps, the caps
    those of the root assist."""
    feet = FootModel.of(model) if feet is None else feet
    dt = 1.0 / reference.rate
    gravity = -model.opt.gravity[2]
    mass = humanoid.total_mass(model)
    com, momentum, low, high, floor = _centroidal_state(feet, reference, weights)
    accel = np.gradient(np.gradient(com, dt, axis=0), dt, axis=0)
    turning = np.gradient(momentum, dt, axis=0)
    flight, free = _flights(np.isnan(low[:, 0]), dt)
    stance = ~(flight | free)

    shift = np.zeros_like(com)
    lower = np.where(stance, -gravity - accel[:, 2], -np.inf)
    lower[flight] = -gravity - accel[flight, 2]
    upper = np.where(flight, lower, np.inf)
    shift[:, 2] = offsets(lower, upper, dt)

    force_z = mass * (accel[:, 2] + gravity + np.gradient(np.gradient(shift[:, 2], dt), dt))
    height = np.maximum(com[:, 2] + shift[:, 2] - floor, MIN_HEIGHT)
    slack = CAP_SHARE * (assist_force_n + assist_torque_nm / height)
    friction = feet.mu * np.maximum(force_z, 0.0)
    for axis, moment in ((0, -turning[:, 1]), (1, turning[:, 0])):
        across = (com[:, axis] + shift[:, axis]) * force_z + moment
        lo_force = np.maximum((across - high[:, axis] * force_z) / height, -friction) - slack
        hi_force = np.minimum((across - low[:, axis] * force_z) / height, friction) + slack
        lower, upper = lo_force / mass - accel[:, axis], hi_force / mass - accel[:, axis]
        empty = lower > upper
        lower[empty] = upper[empty] = 0.5 * (lower[empty] + upper[empty])
        lower[flight] = upper[flight] = -accel[flight, axis]
        lower[free], upper[free] = -np.inf, np.inf
        shift[:, axis] = offsets(lower, upper, dt)

    qpos = reference.qpos.copy()
    qpos[:, :3] += shift
    qpos = _keep_stance_feet(feet, model, reference.qpos, qpos, weights)
    qvel = reference.qvel.copy()
    qvel[:, :3] = np.gradient(qpos[:, :3], dt, axis=0)
    qvel[:, 6:] = np.gradient(qpos[:, 7:], dt, axis=0)
    return replace(reference, qpos=qpos, qvel=qvel, qacc=np.gradient(qvel, dt, axis=0)), shift
