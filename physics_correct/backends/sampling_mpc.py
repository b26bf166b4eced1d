"""The quality mode: predictive-sampling MPC over PD-target offsets, on top of the default control law.

Every ``mpc_replan`` control steps the planner saves the simulation state and rolls out ``mpc_samples``
candidate futures of ``mpc_horizon`` seconds with ``mujoco.rollout`` (C threads, one MjData per thread). Each
candidate adds an offset to the hinge PD targets that is linear between two knots (now and the horizon's end):
the first candidate repeats the previous best (shifted), the second adds nothing, the others add Gaussian noise
(``mpc_sigma`` rad) to the previous best. Inside a rollout the controls are open loop: the default law's output at
the planning step, carried along the plan (its feedback part held), plus the offset; the actuators' own PD still
acts. The candidate whose simulated joint bodies stay closest to the reference (mean squared distance over the
horizon, plus a penalty on falling below the reference pelvis height) wins, and its offset is added to the closed
loop law until the next replan. The default mode uses the same planner to rescue falls (``rescue_seconds``).
Costs: about ``mpc_samples * mpc_horizon / (mpc_replan / control rate)`` times
the physics of the default mode.
"""

from __future__ import annotations

import numpy as np

from .. import humanoid
from ..controller.balance import support_index
from ..controller.config import ControllerConfig
from ..controller.law import LawConstants
from ..controller.plan import Plan

HEIGHT_WEIGHT = 4.0  # cost per m^2 of pelvis height below the reference, relative to the joint-body error
OFFSET_WEIGHT = 1e-4  # cost per rad^2 of mean squared offset (prefers small changes when costs tie)


class SamplingPlanner:
    """Per-step hinge-target offsets for ``mujoco_cpu.simulate``: ``offset(k, data, ctrl)`` replans when due."""

    def __init__(self, model, plan: Plan, consts: LawConstants, config: ControllerConfig):
        import mujoco
        from mujoco import rollout

        self.model, self.plan, self.consts, self.config = model, plan, consts, config
        self.pool = rollout.Rollout(nthread=config.mpc_threads)
        self.datas = [mujoco.MjData(model) for _ in range(config.mpc_threads)]
        self.fk_data = mujoco.MjData(model)
        self.spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.control_spec = (
            mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_MOCAP_POS | mujoco.mjtState.mjSTATE_MOCAP_QUAT
        )
        self.state = np.empty(mujoco.mj_stateSize(model, self.spec))
        self.horizon = max(1, round(config.mpc_horizon * plan.rate))
        self.ids = humanoid.joint_body_ids(model)
        self.pelvis = model.body("pelvis").id
        self.rng = np.random.default_rng(config.mpc_seed)
        self.knots = np.zeros((2, len(consts.hinge_act)))  # offset at the planning step and at the horizon's end
        self.planned_at = 0
        self.due = True  # replan at the next call
        rows = support_index(plan.weights[:, 0] > 0, plan.weights[:, 1] > 0)  # the reference's support per step
        self.base = plan.ctrl.copy()  # the law's open-loop part with the reference support
        self.base[:, consts.hinge_act] += plan.tau_ff[np.arange(plan.num_steps), rows] / consts.kp
        self.base[:, consts.assist_act] += plan.root_residual[np.arange(plan.num_steps), rows] / consts.assist_kp

    def _offsets(self, knots: np.ndarray, steps: int) -> np.ndarray:
        """Offsets (..., steps, hinges) linear between the two knots (..., 2, hinges) over the horizon."""
        frac = np.arange(steps) / max(1, self.horizon - 1)
        return knots[..., :1, :] * (1 - frac[:, None]) + knots[..., 1:, :] * frac[:, None]

    def restart(self) -> None:
        """Forget the current offsets and replan at the next call (after the simulation was rewound)."""
        self.knots[:] = 0.0
        self.due = True

    def offset(self, k: int, data, ctrl: np.ndarray) -> np.ndarray:
        """The hinge offset (hinges,) to add to the law's controls at control step ``k``."""
        if (self.due or k - self.planned_at >= self.config.mpc_replan) and k + 1 < self.plan.num_steps:
            self._replan(k, data, ctrl)
        frac = min(1.0, max(0, k - self.planned_at) / max(1, self.horizon - 1))
        return self.knots[0] * (1 - frac) + self.knots[1] * frac

    def close(self) -> None:
        """Stop the rollout threads."""
        self.pool.close()

    def _replan(self, k: int, data, ctrl: np.ndarray) -> None:
        import mujoco

        plan, consts, config = self.plan, self.consts, self.config
        steps = min(self.horizon, plan.num_steps - k - 1)
        shift = self._offsets(self.knots, self.horizon)[min(max(0, k - self.planned_at), self.horizon - 1)]
        warm = np.stack([shift, self.knots[1]])
        num = config.mpc_samples
        knots = np.repeat(warm[None], num, axis=0)
        knots[1] = 0.0
        knots[2:] += config.mpc_sigma * self.rng.standard_normal(knots[2:].shape)

        controls = np.repeat((ctrl - self.base[k])[None], steps, axis=0) + self.base[k : k + steps]
        controls = np.repeat(controls[None], num, axis=0)
        controls[:, :, consts.hinge_act] += self._offsets(knots, steps)
        mocap = np.concatenate(
            [plan.mocap_pos[k : k + steps].reshape(steps, -1), plan.mocap_quat[k : k + steps].reshape(steps, -1)],
            axis=1,
        )
        vectors = np.concatenate([controls, np.repeat(mocap[None], num, axis=0)], axis=2)
        vectors = np.repeat(vectors, plan.substeps, axis=1)  # held over each control interval

        mujoco.mj_getState(self.model, data, self.state, self.spec)
        states, _ = self.pool.rollout(self.model, self.datas, self.state, vectors, control_spec=self.control_spec)
        qpos = states[:, plan.substeps - 1 :: plan.substeps, 1 : 1 + self.model.nq]  # after each control step
        cost = self._cost(qpos, k) + OFFSET_WEIGHT * np.mean(knots**2, axis=(1, 2))
        self.knots = knots[int(np.argmin(cost))]
        self.planned_at, self.due = k, False

    def _cost(self, qpos: np.ndarray, k: int) -> np.ndarray:
        """Mean squared joint-body distance to the reference over the horizon, plus pelvis sag, per sample."""
        import mujoco

        num, steps = qpos.shape[:2]
        ref = self.plan.body_pos[k + 1 : k + 1 + steps]
        cost = np.zeros(num)
        fk = self.fk_data
        for s in range(num):
            for j in range(steps):
                fk.qpos[:] = qpos[s, j]
                mujoco.mj_kinematics(self.model, fk)
                error = fk.xpos[self.ids] - ref[j]
                sag = max(0.0, ref[j, 0, 2] - fk.xpos[self.pelvis, 2])
                cost[s] += np.mean(np.sum(error**2, axis=1)) + HEIGHT_WEIGHT * sag**2
        return cost / steps
