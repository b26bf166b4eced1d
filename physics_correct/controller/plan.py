"""The control plan: everything the controller needs per control step, computed once from the reference.

For each control sample of the reference (qpos, qvel, qacc at the control rate):

- **PD targets with velocity feed-forward.** A position actuator pulls toward zero velocity, so its target is
  offset by (kv / kp) * qvel_ref. The root-assist actuators get the same offset. Targets are held over a
  control interval, so they are taken halfway through it rather than at its start (no systematic lag).
- **Weight-support feed-forward** (``tau_ff``): whole-body inverse dynamics of the reference with the root
  wrench carried by the feet in contact in the reference (``balance.support_torques``), once for each support
  the simulation may meet (no foot, left, right, both); the law adds the joint part to the PD targets as
  tau / kp. What the feet cannot supply (``root_residual``) is fed to the root assist.
- **Root-assist targets.** Two mocap bodies follow the reference pelvis (position with world axes; full pose).
- **Stance-leg geometry** for the balance layer: each foot's reference pose (``foot_pose``) and the Jacobian
  of that pose, in the reference pelvis frame, with respect to the leg's hinges (``leg_jac``).

The plan is plain arrays, so a per-step control law in any backend (CPU MuJoCo, MJX) can index it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import humanoid
from ..retarget import Reference
from .balance import FOOT_BODIES, SUPPORTS, FootModel, support_torques

LEG_BODIES = (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle"))


def leg_hinge_dofs(model) -> np.ndarray:
    """qvel indices (2, 9) of the hip, knee and ankle hinges of the left and right leg."""
    return np.array([[model.body(b).dofadr[0] + k for b in leg for k in range(3)] for leg in LEG_BODIES])


@dataclass(frozen=True)
class Plan:
    """Per-control-step arrays (N steps at ``rate`` Hz, ``substeps`` physics steps each):

    ``ctrl`` (N, nu) PD and assist targets with velocity feed-forward; ``tau_ff`` (N, 4, nv - 6) joint
    feed-forward torques per support (row ``balance.support_index(left, right)``); ``mocap_pos`` (N, 2, 3)
    and ``mocap_quat`` (N, 2, 4) assist targets; the reference ``qpos`` (N, nq), ``qvel`` and ``qacc``
    (N, nv); foot support ``weights`` (N, 2) (``reference.contact_weights``); reference joint-body positions
    ``body_pos`` (N, 22, 3) (MuJoCo frame); ``root_residual`` (N, 4, 6), per support the root wrench the feet
    could not supply;
    ``foot_pose`` (N, 2, 7) reference position and quaternion of the left and right foot (ankle) bodies;
    ``leg_jac`` (N, 2, 6, 9) Jacobian of each foot's pose in the reference pelvis frame w.r.t. its leg hinges
    (``LEG_HINGE_DOFS``).
    """

    ctrl: np.ndarray
    tau_ff: np.ndarray
    mocap_pos: np.ndarray
    mocap_quat: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    qacc: np.ndarray
    weights: np.ndarray
    body_pos: np.ndarray
    root_residual: np.ndarray
    foot_pose: np.ndarray
    leg_jac: np.ndarray
    rate: float
    substeps: int

    @property
    def num_steps(self) -> int:
        return len(self.ctrl)


def _midpoints(values: np.ndarray) -> np.ndarray:
    """Values halfway through each control interval (the targets are held over the interval), last one kept."""
    return np.concatenate([0.5 * (values[:-1] + values[1:]), values[-1:]])


def build_plan(
    model, reference: Reference, contact_weights: np.ndarray, substeps: int, feedforward: bool = True, feet=None
) -> Plan:
    """Build the plan for ``reference`` (at the control rate) with foot support weights (N, 2).

    ``feedforward=False`` leaves ``tau_ff`` and ``root_residual`` at zero (pure PD tracking).
    """
    import mujoco

    num = len(reference.qpos)
    if contact_weights.shape != (num, 2):
        raise ValueError(f"contact_weights must have shape ({num}, 2), got {contact_weights.shape}")
    feet = FootModel.of(model) if feet is None else feet
    data = mujoco.MjData(feet.free_model)
    hinge_act = humanoid.hinge_actuator_ids(model)
    assist_act = humanoid.assist_actuator_ids(model)
    kv_over_kp = -model.actuator_biasprm[:, 2] / model.actuator_gainprm[:, 0]
    ids = humanoid.joint_body_ids(model)

    ctrl = np.zeros((num, model.nu))
    ctrl[:, hinge_act] = _midpoints(reference.qpos[:, 7:] + kv_over_kp[hinge_act] * reference.qvel[:, 6:])
    ctrl[:, assist_act] = _midpoints(kv_over_kp[assist_act] * reference.qvel[:, :6])
    tau_ff = np.zeros((num, len(SUPPORTS), model.nv - 6))
    body_pos = np.empty((num, len(ids), 3))
    residual = np.zeros((num, len(SUPPORTS), 6))
    foot_ids = [model.body(b).id for b in FOOT_BODIES]
    pelvis = model.body("pelvis").id
    leg_dofs = leg_hinge_dofs(model)
    foot_pose = np.empty((num, 2, 7))
    leg_jac = np.empty((num, 2, 6, leg_dofs.shape[1]))
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    for k in range(num):
        tau, residual[k] = support_torques(
            feet, data, reference.qpos[k], reference.qvel[k], reference.qacc[k], contact_weights[k]
        )
        if feedforward:
            tau_ff[k] = tau[:, 6:]
        else:
            residual[k] = 0.0
        body_pos[k] = data.xpos[ids]
        to_pelvis = data.xmat[pelvis].reshape(3, 3).T
        for side, (body, dofs) in enumerate(zip(foot_ids, leg_dofs, strict=True)):
            foot_pose[k, side] = np.r_[data.xpos[body], data.xquat[body]]
            mujoco.mj_jacBody(feet.free_model, data, jacp, jacr, body)
            leg_jac[k, side] = np.concatenate([to_pelvis @ jacp[:, dofs], to_pelvis @ jacr[:, dofs]])

    mocap_pos = np.repeat(_midpoints(reference.qpos[:, None, :3]), 2, axis=1)
    mocap_quat = np.zeros((num, 2, 4))
    mocap_quat[:, 0, 0] = 1.0
    mocap_quat[:, 1] = _midpoints(reference.qpos[:, 3:7])
    mocap_quat[:, 1] /= np.linalg.norm(mocap_quat[:, 1], axis=-1, keepdims=True)
    return Plan(
        ctrl=ctrl,
        tau_ff=tau_ff,
        mocap_pos=mocap_pos,
        mocap_quat=mocap_quat,
        qpos=reference.qpos,
        qvel=reference.qvel,
        qacc=reference.qacc,
        weights=contact_weights,
        body_pos=body_pos,
        root_residual=residual,
        foot_pose=foot_pose,
        leg_jac=leg_jac,
        rate=reference.rate,
        substeps=substeps,
    )
