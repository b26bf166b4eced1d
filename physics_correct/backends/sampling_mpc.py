"""The quality mode: predictive-sampling MPC over PD-target offsets, on top of the default control law.

Every ``mpc_replan`` control steps the planner copies the simulation and rolls out ``mpc_samples`` candidate
futures of ``mpc_horizon`` seconds. Each candidate adds an offset to the hinge PD targets that is linear between
two knots (now and the horizon's end): the first candidate repeats the previous best (shifted), the second adds
nothing, the others add Gaussian noise (``mpc_sigma`` rad) to the previous best. The rollouts are closed loop:
each one runs the default law itself (``mujoco_cpu.control_step``, feedback, balance layer and assist caps
included) plus the candidate's offset, so the zero-offset candidate foresees exactly what the default mode would
do. The candidate with the lowest cost wins (mean squared distance of the joint bodies to the reference over the
horizon, a penalty on the pelvis sagging below its reference height and one on the root assist's force), and its
offset is added to the law until the next replan. Rollouts are split over ``mpc_threads`` threads, each with its
own copy of the model (the law writes the assist caps into it). The default mode uses the same planner to rescue
falls (``rescue_seconds``); the MJX backend runs the same planner in JAX (``mjx.candidate_costs``). Costs: about
``mpc_samples * mpc_horizon / (mpc_replan / control rate)`` times the default mode.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import humanoid
from ..controller.config import ControllerConfig
from ..controller.plan import Plan

HEIGHT_WEIGHT = 4.0  # cost per m^2 of pelvis height below the reference, relative to the joint-body error
# Cost per squared root-assist force in body weights, per control step (an assist of 0.1 m g costs as much as
# 10 mm of joint-body error). Measured against no assist term (0.2-s horizon, the clean walk, jog, run and jump
# of the embedded dataset): mean assist 68 -> 65 N, joint error 16.5 -> 16.2 mm.
ASSIST_WEIGHT = 0.01
OFFSET_WEIGHT = 1e-4  # cost per rad^2 of mean squared offset (prefers small changes when costs tie)


def knot_offsets(knots, steps: int, horizon: int):
    """Offsets (..., steps, hinges) linear between two knots (..., 2, hinges), the first at step 0 and the second
    at step ``horizon`` - 1 (numpy or JAX arrays)."""
    frac = np.arange(steps) / max(1, horizon - 1)
    return knots[..., :1, :] * (1 - frac[:, None]) + knots[..., 1:, :] * frac[:, None]


def horizon_steps(config: ControllerConfig, rate: float) -> int:
    """The planning horizon in control steps at a control ``rate`` (Hz)."""
    return max(1, round(config.mpc_horizon * rate))


class SamplingPlanner:
    """Per-step hinge-target offsets for ``mujoco_cpu.simulate``: ``offset(k, data)`` replans when due."""

    def __init__(self, model, plan: Plan, step, config: ControllerConfig):
        import mujoco

        self.model, self.plan, self.step, self.config = model, plan, step, config
        threads = min(config.mpc_threads, config.mpc_samples)
        self.models = [model] + [copy.deepcopy(model) for _ in range(threads - 1)]  # one per thread
        self.datas = [mujoco.MjData(model) for _ in range(threads)]
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.horizon = horizon_steps(config, plan.rate)
        self.ids = humanoid.joint_body_ids(model)
        self.pelvis = model.body("pelvis").id
        self.rng = np.random.default_rng(config.mpc_seed)
        self.knots = np.zeros((2, len(step.consts.hinge_act)))  # offset at the planning step and at the horizon's end
        self.planned_at = 0
        self.due = True  # replan at the next call

    def restart(self) -> None:
        """Forget the current offsets and replan at the next call (after the simulation was rewound)."""
        self.knots[:] = 0.0
        self.due = True

    def offset(self, k: int, data) -> np.ndarray:
        """The hinge offset (hinges,) to add to the law's controls at control step ``k``."""
        if (self.due or k - self.planned_at >= self.config.mpc_replan) and k + 1 < self.plan.num_steps:
            self._replan(k, data)
        return knot_offsets(self.knots, self.horizon, self.horizon)[min(max(0, k - self.planned_at), self.horizon - 1)]

    def close(self) -> None:
        """Stop the rollout threads."""
        if self.pool is not None:
            self.pool.shutdown()

    def _replan(self, k: int, data) -> None:
        steps = min(self.horizon, self.plan.num_steps - k - 1)
        shift = knot_offsets(self.knots, self.horizon, self.horizon)[min(max(0, k - self.planned_at), self.horizon - 1)]
        num = self.config.mpc_samples
        knots = np.repeat(np.stack([shift, self.knots[1]])[None], num, axis=0)
        knots[1] = 0.0
        knots[2:] += self.config.mpc_sigma * self.rng.standard_normal(knots[2:].shape)
        offsets = knot_offsets(knots, steps, self.horizon)

        chunks = np.array_split(np.arange(num), len(self.datas))
        jobs = [(self.models[t], self.datas[t], data, k, offsets[chunk]) for t, chunk in enumerate(chunks)]
        if self.pool is None:
            costs = [self._rollouts(*job) for job in jobs]
        else:
            costs = [future.result() for future in [self.pool.submit(self._rollouts, *job) for job in jobs]]
        cost = np.concatenate(list(costs)) + OFFSET_WEIGHT * np.mean(knots**2, axis=(1, 2))
        self.knots = knots[int(np.argmin(cost))]
        self.planned_at, self.due = k, False

    def _rollouts(self, model, scratch, data, k: int, offsets: np.ndarray) -> np.ndarray:
        """Cost of the closed-loop rollout of each offset (n, steps, hinges) from ``data``'s state at step ``k``."""
        import mujoco

        from .mujoco_cpu import control_step

        plan, step = self.plan, self.step
        forcerange = model.actuator_forcerange.copy()
        cost = np.zeros(len(offsets))
        for s, offset in enumerate(offsets):
            mujoco.mj_copyData(scratch, model, data)
            for j, row in enumerate(offset):
                control_step(model, scratch, plan, k + j, step, row)
                if not np.all(np.isfinite(scratch.qvel)):
                    cost[s] = np.inf
                    break
                mujoco.mj_kinematics(model, scratch)
                ref = plan.body_pos[k + j + 1]
                sag = max(0.0, ref[0, 2] - scratch.xpos[self.pelvis, 2])
                force = scratch.actuator_force[step.assist_ids[:3]] / step.feet.weight
                error = np.mean(np.sum((scratch.xpos[self.ids] - ref) ** 2, axis=1))
                cost[s] += error + HEIGHT_WEIGHT * sag**2 + ASSIST_WEIGHT * np.sum(force**2)
        model.actuator_forcerange[:] = forcerange
        return cost / len(offsets[0])
