"""Run a controller plan in CPU MuJoCo, one clip per call (parallelism is across processes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import humanoid
from ..controller.balance import FootModel, feet_loads
from ..controller.config import ControllerConfig
from ..controller.law import LawConstants, assist_limits, body_error, control
from ..controller.plan import Plan
from . import SimulationError

MAX_QVEL = 1e3  # rad/s or m/s; beyond this the simulation is declared unstable
RESCUE_ATTEMPTS = 3  # rescues of one fall, from rescue_seconds, twice and four times that before it


@dataclass(frozen=True)
class Rollout:
    """Simulated trajectory at the control samples: ``qpos`` (N, nq), joint-body positions ``body_pos`` (N, 22, 3)
    (MuJoCo frame), root-assist actuator forces ``assist`` (N, 6) (force N, torque N m), the mean body error
    ``error`` (N,) (m), the control steps where a fall was detected, ``falls``, and those from which a fall
    was redone with the MPC planner, ``rescues``."""

    qpos: np.ndarray
    body_pos: np.ndarray
    assist: np.ndarray
    error: np.ndarray
    falls: tuple[int, ...]
    rescues: tuple[int, ...] = ()


def _set_state(model, data, qpos, qvel) -> None:
    """Put the body in a reference state, raised out of the floor if a geom starts below it."""
    import mujoco

    data.qpos[:], data.qvel[:] = qpos, qvel
    data.act[:] = 0.0
    mujoco.mj_forward(model, data)
    depth = -min((contact.dist for contact in data.contact[: data.ncon]), default=0.0)
    if depth > 0:
        data.qpos[2] += depth
        mujoco.mj_forward(model, data)


@dataclass(frozen=True)
class StepConstants:
    """What one control step needs of the model besides the plan: the law's constants, the feet, the root-assist
    actuator and mocap ids, and the assist's force (N) and torque (N m) caps."""

    consts: LawConstants
    feet: FootModel
    assist_ids: np.ndarray
    mocap: tuple[int, int]
    force_cap: float
    torque_cap: float

    @classmethod
    def of(cls, model, config: ControllerConfig) -> StepConstants:
        consts = LawConstants.of(model, balance=config.balance)
        mocap = tuple(model.body(name).mocapid[0] for name in ("assist_pos", "assist_rot"))
        force_cap = config.assist_force * humanoid.body_weight(model)
        assist_ids = humanoid.assist_actuator_ids(model)
        return cls(consts, FootModel.of(model), assist_ids, mocap, force_cap, config.assist_torque)


def control_step(model, data, plan: Plan, k: int, step: StepConstants, offset: np.ndarray | None = None) -> None:
    """One control step ``k`` from the state in ``data`` (its kinematics current): the law's controls (plus a
    hinge-target ``offset``), the assist caps shared between its axes, the assist targets, then the physics
    steps of one control interval. The main loop and the MPC planner's rollouts both step through here."""
    import mujoco

    consts, foot_ids = step.consts, list(step.feet.foot_ids)
    foot_pose = np.concatenate([data.xpos[foot_ids], data.xquat[foot_ids]], axis=1)
    loads = feet_loads(step.feet, model, data)
    data.ctrl[:] = control(consts, plan, k, data.qpos[:7], foot_pose, loads)
    if offset is not None:
        data.ctrl[consts.hinge_act] += offset
    limits = assist_limits(
        consts,
        data.ctrl,
        data.actuator_length[step.assist_ids],
        data.actuator_velocity[step.assist_ids],
        step.force_cap,
        step.torque_cap,
    )
    model.actuator_forcerange[step.assist_ids] = np.stack([-limits, limits], axis=1)
    data.mocap_pos[list(step.mocap)] = plan.mocap_pos[k]
    data.mocap_quat[list(step.mocap)] = plan.mocap_quat[k]
    mujoco.mj_step(model, data, nstep=plan.substeps)


def simulate(model, plan: Plan, config: ControllerConfig) -> Rollout:
    """Track ``plan`` from its first reference state; see ``ControllerConfig`` for caps, fall handling and the
    MPC mode (``mode="mpc"`` adds the PD-target offsets of ``sampling_mpc.SamplingPlanner`` to the law).

    In mode "pd" with ``rescue_seconds`` > 0 a fall is first rescued: the simulation is rewound that long
    and redone with the MPC planner up to that long past the fall; if it falls again, the next attempt rewinds
    twice as far (``RESCUE_ATTEMPTS`` in all). Only a fall that every attempt met counts.
    """
    import mujoco

    from .sampling_mpc import SamplingPlanner

    step = StepConstants.of(model, config)
    planner = SamplingPlanner(model, plan, step, config) if config.mode == "mpc" else None
    data = mujoco.MjData(model)
    ids = humanoid.joint_body_ids(model)
    num = plan.num_steps
    qpos = np.empty((num, model.nq))
    body_pos = np.empty((num, len(ids), 3))
    assist = np.zeros((num, 6))
    error = np.empty(num)
    falls, rescues = [], []
    rescue_steps = round(config.rescue_seconds * plan.rate) if config.mode == "pd" else 0
    state_spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    saved = np.empty((num if rescue_steps else 0, mujoco.mj_stateSize(model, state_spec)))  # state at each step
    rescue_until = -1  # control steps before this one are being redone with the planner
    attempts = 0  # rescues of the current fall so far
    try:
        _set_state(model, data, plan.qpos[0], plan.qvel[0])
        k = 0
        while k < num:
            mujoco.mj_kinematics(model, data)
            error[k] = body_error(data.xpos[ids], plan.body_pos[k])
            if k >= rescue_until:
                attempts = 0  # the last rescue (if any) got past its fall
            if error[k] > config.fall_distance:
                if rescue_steps and attempts < RESCUE_ATTEMPTS:
                    window = rescue_steps * 2**attempts  # each new attempt starts twice as far back
                    start = max(0, k - window)
                    mujoco.mj_setState(model, data, saved[start], state_spec)
                    mujoco.mj_forward(model, data)
                    planner = planner or SamplingPlanner(model, plan, step, config)
                    planner.restart()
                    rescues.append(start)
                    attempts += 1
                    rescue_until, k = k + window, start
                    continue
                falls.append(k)
                if config.on_fall == "stop":
                    raise SimulationError(
                        f"the humanoid fell at {k / plan.rate:.2f} s (mean body error {error[k]:.2f} m > "
                        f"{config.fall_distance} m); use on_fall='reset' to reset and continue"
                    )
                _set_state(model, data, plan.qpos[k], plan.qvel[k])
            if rescue_steps:
                mujoco.mj_getState(model, data, saved[k], state_spec)
            qpos[k] = data.qpos
            body_pos[k] = data.xpos[ids]
            planning = planner is not None and (config.mode == "mpc" or k < rescue_until)
            control_step(model, data, plan, k, step, planner.offset(k, data) if planning else None)
            assist[k] = data.actuator_force[step.assist_ids]
            if not (np.all(np.isfinite(data.qvel)) and np.max(np.abs(data.qvel)) < MAX_QVEL):
                fastest = np.max(np.abs(data.qvel))
                raise SimulationError(
                    f"the simulation became unstable at {k / plan.rate:.2f} s (velocities {fastest:.3g});"
                    " check the input for absurd poses or lower the timestep"
                )
            k += 1
    finally:
        if planner is not None:
            planner.close()
    humanoid.set_assist_caps(model, config.assist_force, config.assist_torque)  # leave the model as configured
    return Rollout(qpos=qpos, body_pos=body_pos, assist=assist, error=error, falls=tuple(falls), rescues=tuple(rescues))
