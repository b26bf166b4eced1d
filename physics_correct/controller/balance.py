"""Whole-body inverse dynamics with foot contact wrenches: the feed-forward and the balance layer.

Given a state (qpos, qvel) and desired accelerations, inverse dynamics without contacts gives the
generalized force the motion needs, including a 6-D wrench on the free root that only the feet can
supply. The feet in contact share that wrench (weighted least squares over a force and a moment per foot),
each foot's wrench is then clipped to what a foot on the floor can push: a unilateral normal force, the
friction cone, and a centre of pressure inside the sole. What the feet cannot supply (the root residual r)
changes the root's acceleration by -M_rr^-1 r; the joint torques are computed for that realisable root
acceleration, tau_j = tau_id_j - M_jr M_rr^-1 r - J_c,j^T f, so they never push the pelvis the wrong way
when the desired root motion is out of the feet's reach.

Used twice: open loop on the reference (the weight-support feed-forward of the plan) and closed loop on
the simulated state with the root pulled toward the reference (the balance layer: the stance legs push on
the floor so the centre of mass and the pelvis orientation follow the reference).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

FOOT_BODIES = ("left_ankle", "right_ankle")
FOOT_GEOM_BODIES = (("left_ankle", "left_foot"), ("right_ankle", "right_foot"))
REG_FORCE = 1e-4  # least-squares regularisation of a foot's force (per unit contact weight)
REG_MOMENT = 1e-2  # ... and of its moment: forces are preferred, the centre of pressure stays central
COP_HALF_LENGTH = 0.07  # m, centre of pressure allowed this far along the foot from its support point
COP_HALF_WIDTH = 0.03  # m, ... and this far across
TORSION_RADIUS = 0.02  # m, torsional moment <= mu * f_z * radius
FRICTION_MARGIN = 0.8  # use this fraction of the floor's friction coefficient


@dataclass(frozen=True)
class FootModel:
    """What the whole-body solver needs of the model: a copy with constraints disabled (for inverse
    dynamics), the foot body ids, each foot's support point in its body frame (2, 3), the usable friction
    coefficient, the geom ids of each foot (for contact tests) and the body weight (N)."""

    free_model: object
    foot_ids: tuple[int, int]
    points: np.ndarray
    mu: float
    foot_geoms: tuple[np.ndarray, np.ndarray]
    weight: float

    @classmethod
    def of(cls, model) -> FootModel:
        import mujoco

        free_model = copy.deepcopy(model)
        free_model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
        points = []
        for body in FOOT_BODIES:
            geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] == model.body(body).id]
            heel, ball = geoms[0], geoms[1]  # the generator writes the heel, then the ball of the foot
            point = 0.5 * (model.geom_pos[heel] + model.geom_pos[ball])
            point[2] = model.geom_pos[ball][2] - model.geom_size[ball][0]
            points.append(point)
        foot_geoms = tuple(
            np.flatnonzero(np.isin(model.geom_bodyid, [model.body(b).id for b in bodies]))
            for bodies in FOOT_GEOM_BODIES
        )
        mu = FRICTION_MARGIN * float(model.geom_friction[model.geom("floor").id, 0])
        weight = float(model.body_subtreemass[model.body("pelvis").id] * -model.opt.gravity[2])
        return cls(free_model, tuple(model.body(b).id for b in FOOT_BODIES), np.array(points), mu, foot_geoms, weight)


def feet_loads(feet: FootModel, model, data) -> np.ndarray:
    """Normal contact force on each foot (left, right) as a fraction of body weight, (2,)."""
    import mujoco

    loads = np.zeros(2)
    wrench = np.zeros(6)
    geoms = data.contact.geom[: data.ncon]
    for k, foot in enumerate(feet.foot_geoms):
        for i in np.flatnonzero(np.isin(geoms, foot).any(axis=1)):
            mujoco.mj_contactForce(model, data, i, wrench)
            loads[k] += wrench[0]
    return loads / feet.weight


def _clip_wrench(wrench: np.ndarray, foot_rot: np.ndarray, mu: float) -> np.ndarray:
    """Clip a foot wrench (world frame) to a unilateral force in the friction cone, CoP inside the sole."""
    fz = max(wrench[2], 0.0)
    horizontal = np.linalg.norm(wrench[:2])
    scale = min(1.0, mu * fz / horizontal) if horizontal > 0 else 1.0
    local = foot_rot.T @ wrench[3:]  # moment in the foot frame: x across, y along the foot, z up
    cap = np.array([fz * COP_HALF_LENGTH, fz * COP_HALF_WIDTH, mu * fz * TORSION_RADIUS])
    moment = foot_rot @ np.clip(local, -cap, cap)
    return np.r_[wrench[0] * scale, wrench[1] * scale, fz, moment]


def wholebody_torques(feet: FootModel, data, qpos, qvel, qacc, weights) -> tuple[np.ndarray, np.ndarray]:
    """Generalized force (nv,) realising ``qacc`` at (qpos, qvel) with the feet's help, and the root residual (6,).

    ``data`` is a scratch ``MjData`` of ``feet.free_model``; ``weights`` (2,) share the root wrench between the
    feet (0 = the foot carries nothing).
    """
    import mujoco

    model = feet.free_model
    data.qpos[:], data.qvel[:], data.qacc[:] = qpos, qvel, qacc
    mujoco.mj_inverse(model, data)
    tau = data.qfrc_inverse.copy()
    active = [k for k in range(2) if weights[k] > 1e-3]
    if not active:
        return _realisable(model, data, tau, tau[:6].copy())
    jacs = []
    for k in active:
        body = feet.foot_ids[k]
        point = data.xpos[body] + data.xmat[body].reshape(3, 3) @ feet.points[k]
        jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
        mujoco.mj_jac(model, data, jacp, jacr, point, body)
        jacs.append(np.concatenate([jacp, jacr]))
    a = np.concatenate([jac[:, :6].T for jac in jacs], axis=1)  # (6 root dofs, 6 per foot)
    reg = np.concatenate([np.r_[[REG_FORCE] * 3, [REG_MOMENT] * 3] / weights[k] for k in active])
    solution = np.linalg.solve(a.T @ a + np.diag(reg), a.T @ tau[:6]).reshape(len(active), 6)
    for k, jac, wrench in zip(active, jacs, solution, strict=True):
        body = feet.foot_ids[k]
        tau -= jac.T @ _clip_wrench(wrench, data.xmat[body].reshape(3, 3), feet.mu)
    return _realisable(model, data, tau, tau[:6].copy())


def _realisable(model, data, tau: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint torques for the root acceleration the contacts can realise (see the module docstring)."""
    import mujoco

    mass = np.zeros((model.nv, model.nv))
    mujoco.mj_fullM(model, data, mass)
    tau = tau.copy()
    tau[6:] -= mass[6:, :6] @ np.linalg.solve(mass[:6, :6], residual)
    tau[:6] = 0.0
    return tau, residual
