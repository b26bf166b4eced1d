"""Whole-body inverse dynamics with foot contact forces: the weight-support feed-forward of the plan.

Given a state (qpos, qvel) and desired accelerations, inverse dynamics without contacts gives the
generalized force the motion needs, including a 6-D wrench on the free root that only the feet can
supply. Each foot touches the floor at the ends of its heel, ball and toe capsules; the points of a
supporting foot that are on the floor push with forces inside linearised friction cones (four edges per
point, non-negative weights). Non-negative least squares picks the edge forces whose wrench on the root is
closest to the one needed, with a small penalty that shares the load between the feet by their support
weights. The contact forces are then taken out of the generalized force: what is left on the root is the
residual the feet cannot supply (the root assist's job), the rest are the joint torques.

Unlike one wrench per foot inside a fixed centre-of-pressure box, the points follow the foot's pose: a foot
on its toes pushes through its toe points only, a flat foot anywhere between heel and toes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from .. import humanoid

FOOT_BODIES = ("left_ankle", "right_ankle")
FOOT_GEOM_BODIES = (("left_ankle", "left_foot"), ("right_ankle", "right_foot"))
SOLE_GEOMS = (0, 1)  # the generator writes the heel and the ball capsule first in each ankle body
ON_FLOOR = 0.02  # m, a sole point this close to the floor can push on it
LOAD_SHARE = 1e-3  # penalty on the edge forces (per unit support weight) that shares the load between the feet
FRICTION_MARGIN = 0.8  # use this fraction of the floor's friction coefficient
MIN_WEIGHT = 1e-3  # a foot with less support weight carries nothing
SUPPORTS = ((False, False), (True, False), (False, True), (True, True))  # (left, right) may push, by row


def _capsule_bottoms(model, geom: int) -> list[np.ndarray]:
    """Lowest points (body frame, rest pose) under both ends of a capsule geom."""
    import mujoco

    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, model.geom_quat[geom])
    axis = rot.reshape(3, 3)[:, 2] * model.geom_size[geom][1]
    drop = np.array([0.0, 0.0, model.geom_size[geom][0]])
    return [model.geom_pos[geom] + axis - drop, model.geom_pos[geom] - axis - drop]


@dataclass(frozen=True)
class FootModel:
    """What the contact solver needs of the model: a copy with constraints disabled (for inverse dynamics),
    the foot (ankle) body ids, the sole points of each foot as (body id, point in the body frame) pairs, the
    usable friction coefficient, the foot (0 left, 1 right, -1 none) of each geom and the body weight (N)."""

    free_model: object
    foot_ids: tuple[int, int]
    sole_points: tuple[tuple[tuple[int, np.ndarray], ...], ...]
    mu: float
    geom_foot: np.ndarray
    weight: float

    @classmethod
    def of(cls, model) -> FootModel:
        import mujoco

        free_model = copy.deepcopy(model)
        free_model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
        sole_points = []
        for ankle, toe in FOOT_GEOM_BODIES:
            points = []
            for body, indices in ((ankle, SOLE_GEOMS), (toe, (0, 1))):
                body_id = model.body(body).id
                geoms = np.flatnonzero(model.geom_bodyid == body_id)
                points += [(body_id, p) for k in indices for p in _capsule_bottoms(model, geoms[k])]
            sole_points.append(tuple(points))
        geom_foot = np.full(model.ngeom, -1)
        for side, bodies in enumerate(FOOT_GEOM_BODIES):
            geom_foot[np.isin(model.geom_bodyid, [model.body(b).id for b in bodies])] = side
        mu = FRICTION_MARGIN * float(model.geom_friction[model.geom("floor").id, 0])
        weight = humanoid.body_weight(model)
        feet = tuple(model.body(b).id for b in FOOT_BODIES)
        return cls(free_model, feet, tuple(sole_points), mu, geom_foot, weight)

    def cone_edges(self) -> np.ndarray:
        """The four edges (4, 3) of the linearised friction cone of a point on the floor."""
        return np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]]) * self.mu + [0.0, 0.0, 1.0]


def feet_loads(feet: FootModel, model, data) -> np.ndarray:
    """Normal contact force on each foot (left, right) as a fraction of body weight, (2,)."""
    import mujoco

    loads = np.zeros(2)
    wrench = np.zeros(6)
    sides = feet.geom_foot[data.contact.geom[: data.ncon]].max(axis=1)  # the floor is no foot's
    for i in np.flatnonzero(sides >= 0):
        mujoco.mj_contactForce(model, data, i, wrench)
        loads[sides[i]] += wrench[0]
    return loads / feet.weight


def supporting_points(feet: FootModel, data, weights) -> list[tuple[int, int, np.ndarray]]:
    """(side, body id, world point) of each sole point that can push on the floor: on a foot with support weight
    (``weights`` (2,)) and within ``ON_FLOOR`` of it, in the pose of ``data`` (positions computed)."""
    found = []
    for side, points in enumerate(feet.sole_points):
        if weights[side] < MIN_WEIGHT:
            continue
        for body, local in points:
            point = data.xpos[body] + data.xmat[body].reshape(3, 3) @ local
            if point[2] <= ON_FLOOR:
                found.append((side, body, point))
    return found


def support_torques(feet: FootModel, data, qpos, qvel, qacc, weights) -> tuple[np.ndarray, np.ndarray]:
    """Generalized forces (4, nv) realising ``qacc`` at (qpos, qvel) (0 on the root) and root residuals (4, 6),
    for each support a simulation may meet: row ``left + 2 * right`` lets only the feet whose bit is set push
    (row 3: both feet, as the reference has them).

    ``data`` is a scratch ``MjData`` of ``feet.free_model``; ``weights`` (2,) are the support weights of the
    feet in the reference (0 = the foot carries nothing).
    """
    import mujoco

    model = feet.free_model
    data.qpos[:], data.qvel[:], data.qacc[:] = qpos, qvel, qacc
    mujoco.mj_inverse(model, data)
    free = data.qfrc_inverse.copy()
    edges = feet.cone_edges()
    pushes, sides, penalties = [], [], []  # per point on the floor: generalized force of each cone edge (nv, 4)
    jacp = np.zeros((3, model.nv))
    for side, body, point in supporting_points(feet, data, weights):
        mujoco.mj_jac(model, data, jacp, None, point, body)
        pushes.append(jacp.T @ edges.T)
        sides.append(side)
        penalties.append(LOAD_SHARE / weights[side])
    taus = np.tile(free, (len(SUPPORTS), 1))
    solved = {}  # supports that leave the same points on the floor share one solution
    for row, support in enumerate(SUPPORTS):
        used = tuple(n for n, side in enumerate(sides) if support[side])
        if used and used not in solved:
            push = np.concatenate([pushes[n] for n in used], axis=1)
            regulariser = np.diag(np.sqrt(np.repeat([penalties[n] for n in used], len(edges))))
            forces, _ = nnls(np.vstack([push[:6], regulariser]), np.concatenate([free[:6], np.zeros(len(push[0]))]))
            solved[used] = push @ forces
        if used:
            taus[row] -= solved[used]
    residuals = taus[:, :6].copy()
    taus[:, :6] = 0.0
    return taus, residuals


def support_index(left, right):
    """Row of ``support_torques`` for a support state (which feet can push); elementwise for boolean arrays."""
    return np.asarray(left, dtype=int) + 2 * np.asarray(right, dtype=int)


def wholebody_torques(feet: FootModel, data, qpos, qvel, qacc, weights) -> tuple[np.ndarray, np.ndarray]:
    """Generalized force (nv,) realising ``qacc`` at (qpos, qvel) with the feet of the reference pushing (0 on the
    root), and the root residual (6,) that they cannot supply (see ``support_torques``)."""
    taus, residuals = support_torques(feet, data, qpos, qvel, qacc, weights)
    both = support_index(True, True)
    return taus[both], residuals[both]
