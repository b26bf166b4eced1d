"""The MJX backend: its JAX control law against the numpy law, parity with the CPU backend on a 1-second clip, and
the MPC quality mode's planner against the CPU planner.

Skipped when the ``mjx`` extra (jax, mujoco-mjx) is not installed. The first two slow tests share one compiled loop
(two clips, one length bucket): about 2.5 minutes on 2 CPU cores, nearly all of it the JIT compile; the MPC tests
compile their own (about 1 and 3 minutes).
"""

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("mujoco.mjx")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import mujoco  # noqa: E402

from motion_diffusion.data.procedural.generate import generate_clip  # noqa: E402
from physics_correct import humanoid  # noqa: E402
from physics_correct.backends import SimulationError, mujoco_cpu  # noqa: E402
from physics_correct.backends import mjx as backend  # noqa: E402
from physics_correct.backends.sampling_mpc import SamplingPlanner, knot_offsets  # noqa: E402
from physics_correct.controller import ControllerConfig, LawConstants, assist_limits, control  # noqa: E402
from physics_correct.correct import _default_model, correct, correct_joints, plan_motion  # noqa: E402

FPS = 20.0
CLIP_FRAMES = 20  # 1 second at 20 fps
# Measured on 10 procedural clips (walk, idle, jog, turn, squat; seeds 0, 1) cut to 1 s: the mean per-joint distance
# between the backends' corrected joints is at most 0.24 mm, the largest single joint distance 1.4 mm (float32
# and MJX's own solver against float64 CPU MuJoCo). The tolerances sit well above, far below a tracking error.
MEAN_TOL_MM = 1.0
MAX_TOL_MM = 5.0
# Longer clips drift further apart where contacts differ by a step (a foot lands or loads one step earlier): a
# 3-second jog, mean 0.29 mm (max 2.9 mm; 2.6 mm with the stiffer legs of an earlier version).
LONG_CLIP_MEAN_TOL_MM = 5.0
LAW_TOL = 1e-3  # rad (or m of assist target): float32 against float64 on the same law
# The planners' rollout costs from the same state halfway through the walk: the zero offset's agree to 0.02 %
# (measured), perturbed ones to 24 % (a perturbed rollout's contacts can fall a step apart), while perturbed
# candidates cost 5-8 times the zero offset there.
ZERO_OFFSET_COST_RTOL = 0.02
PERTURBED_COST_RTOL = 0.5
MPC_TEST_SAMPLES = 4


@pytest.fixture(scope="module")
def walk():
    return generate_clip("walk", np.random.default_rng(0)).joints[:CLIP_FRAMES]


@pytest.fixture(scope="module")
def idle():
    return generate_clip("idle", np.random.default_rng(0)).joints[:CLIP_FRAMES]


@pytest.fixture(scope="module")
def planned(walk):
    return plan_motion(walk, FPS, ControllerConfig(), _default_model())


def test_backend_option_and_buckets():
    with pytest.raises(ValueError, match="backend must be one of"):
        ControllerConfig(backend="cuda")
    assert ControllerConfig().backend == "mujoco"
    assert [backend.bucket_length(n) for n in (1, 64, 65, 300)] == [64, 64, 128, 512]


@pytest.mark.parametrize("balance", [True, False])
def test_jax_law_matches_numpy_law(planned, balance):
    model, plan = planned.model, planned.plan
    config = ControllerConfig(balance=balance)
    static = backend.Static.of(model, config)
    consts = LawConstants.of(model, balance=balance)
    limits = backend._limits(model, config)
    rng = np.random.default_rng(0)
    checked = 0
    for k in range(0, plan.num_steps, 7):
        for loads in ([0.0, 0.0], [0.6, 0.01], [0.02, 0.4], [0.5, 0.5]):  # every support state
            root = plan.qpos[k, :7] + np.r_[rng.normal(0, 0.03, 3), rng.normal(0, 0.05, 4)]
            root[3:] /= np.linalg.norm(root[3:])
            feet = plan.foot_pose[k] + np.c_[rng.normal(0, 0.02, (2, 3)), rng.normal(0, 0.05, (2, 4))]
            feet[:, 3:] /= np.linalg.norm(feet[:, 3:], axis=1, keepdims=True)
            loads = np.array(loads)
            expected = control(consts, plan, k, root, feet, loads)
            step = {name: jnp.asarray(getattr(plan, name)[k], dtype=jnp.float32) for name in backend.PLAN_FIELDS}
            got = np.asarray(backend.control(static, step, jnp.asarray(root), jnp.asarray(feet), jnp.asarray(loads)))
            np.testing.assert_allclose(got, expected, atol=LAW_TOL)

            length, velocity = rng.normal(0, 0.05, 6), rng.normal(0, 0.5, 6)
            expected = assist_limits(consts, expected, length, velocity, float(limits[1]), float(limits[2]))
            got = backend.assist_limits(static, jnp.asarray(got), length, velocity, limits[1], limits[2])
            np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-3, atol=1e-2)
            checked += 1
    assert checked >= 8


@pytest.mark.slow
def test_mjx_matches_cpu_on_one_second_clips(walk, idle):
    """``correct`` on a list with backend="mjx": the good clips are simulated as one batch, the bad one is reported."""
    bad = walk.copy()
    bad[5, 3] = np.nan
    results = correct([walk, bad, idle], backend="mjx")
    assert [r.ok for r in results] == [True, False, True]
    assert "NaN" in results[1].error
    for joints, result in zip((walk, idle), (results[0], results[2]), strict=True):
        cpu, cpu_report = correct_joints(joints, FPS, ControllerConfig())
        out, report = result.motion, result.report
        assert out.shape == joints.shape and np.all(np.isfinite(out))
        distance_mm = np.linalg.norm(out - cpu, axis=-1) * 1000.0
        assert distance_mm.mean() < MEAN_TOL_MM
        assert distance_mm.max() < MAX_TOL_MM
        # The report: same falls, assist within the cap and close to the CPU's, same tracking and physics quality.
        assert report["falls"] == cpu_report["falls"] == 0
        cap = ControllerConfig().assist_force * humanoid.total_mass(_default_model()) * humanoid.GRAVITY
        assert 0 < report["assist_mean_n"] <= report["assist_max_n"] <= cap * 1.001
        # At the first step the CPU's lowest geom touches or not by a 1e-17 m rounding (see backends/mjx.py), which
        # can flip that step's support: up to the whole force cap for one of the clip's control steps.
        one_step = cap * humanoid.DEFAULT_TIMESTEP * ControllerConfig().control_substeps * FPS / (CLIP_FRAMES - 1)
        assert abs(report["assist_mean_n"] - cpu_report["assist_mean_n"]) < 0.1 * cpu_report["assist_mean_n"] + one_step
        assert abs(report["mpjpe_mm"] - cpu_report["mpjpe_mm"]) < MEAN_TOL_MM
        phys_err, cpu_phys_err = report["metrics_after"]["phys_err_mm"], cpu_report["metrics_after"]["phys_err_mm"]
        assert abs(phys_err - cpu_phys_err) < 0.1 * cpu_phys_err + 0.05
        assert report["seconds"] > 0


@pytest.mark.slow
def test_mjx_fall_reset_and_stop(planned):
    """With a tiny fall distance the loop resets onto the reference at every step the error exceeds it, like the
    CPU backend; with on_fall="stop" it raises at the first fall. (A batch of two, to share the compiled loop.)"""
    model, plan = planned.model, planned.plan
    cpu = mujoco_cpu.simulate(model, plan, ControllerConfig())
    distance = float(np.median(cpu.error))  # about half of the steps exceed it
    config = ControllerConfig(fall_distance=distance)
    rollout = backend.simulate_batch([model] * 2, [plan] * 2, config)[0]
    falls = np.array(rollout.falls)
    assert 0 < len(falls) < plan.num_steps
    assert np.all(rollout.error[falls] > distance)
    assert np.all(np.delete(rollout.error, falls) <= distance)
    np.testing.assert_allclose(rollout.qpos[falls, 3:], plan.qpos[falls, 3:], atol=1e-5)  # reset on the reference
    assert np.all(rollout.qpos[falls, 2] >= plan.qpos[falls, 2] - 1e-5)  # raised out of the floor, never lowered
    stop = config.with_options(on_fall="stop")
    with pytest.raises(SimulationError, match=f"fell at {falls[0] / plan.rate:.2f} s"):
        backend.simulate_batch([model] * 2, [plan] * 2, stop)
    assert all(isinstance(r, SimulationError) for r in backend.simulate_batch([model] * 2, [plan] * 2, stop, True))


@pytest.mark.gpu
def test_mjx_batch_matches_cpu_across_buckets(walk):
    """A single clip through ``correct_joints``, then clips of two length buckets, each with its own fitted model, in
    one ``simulate_batch`` call."""
    config = ControllerConfig()
    out, _ = correct_joints(walk, FPS, ControllerConfig(backend="mjx"))
    cpu, _ = correct_joints(walk, FPS, config)
    assert np.linalg.norm(out - cpu, axis=-1).mean() * 1000.0 < MEAN_TOL_MM
    clips = [generate_clip(family, np.random.default_rng(1)).joints for family in ("walk", "idle", "jog")]
    planned = [
        plan_motion(joints[:length], FPS, config, _default_model())
        for joints, length in zip(clips, (20, 20, 60), strict=True)
    ]
    rollouts = backend.simulate_batch([p.model for p in planned], [p.plan for p in planned], config)
    for p, rollout, tolerance in zip(planned, rollouts, (MEAN_TOL_MM, MEAN_TOL_MM, LONG_CLIP_MEAN_TOL_MM), strict=True):
        cpu = mujoco_cpu.simulate(p.model, p.plan, config)
        assert rollout.body_pos.shape == cpu.body_pos.shape
        assert np.linalg.norm(rollout.body_pos - cpu.body_pos, axis=-1).mean() * 1000.0 < tolerance
        assert rollout.falls == cpu.falls


def _cpu_state_at(model, plan, config, k):
    """The CPU backend's simulation after ``k`` control steps of the default law (kinematics current)."""
    step = mujoco_cpu.StepConstants.of(model, config)
    data = mujoco.MjData(model)
    mujoco_cpu._set_state(model, data, plan.qpos[0], plan.qvel[0])
    for j in range(k):
        mujoco.mj_kinematics(model, data)
        mujoco_cpu.control_step(model, data, plan, j, step)
    mujoco.mj_kinematics(model, data)
    return step, data


@pytest.mark.slow
def test_mjx_planner_rollouts_cost_what_the_cpu_planner_s_cost(planned):
    """The same candidate offsets (none and three perturbations), rolled out closed loop from the same state in
    the middle of the walk, by the MJX planner (``candidate_costs``) and by the CPU planner (``_rollouts``)."""
    model, plan = planned.model, planned.plan
    config = ControllerConfig(mode="mpc", mpc_samples=MPC_TEST_SAMPLES)
    k = plan.num_steps // 2
    step, data = _cpu_state_at(model, plan, config, k)
    planner = SamplingPlanner(model, plan, step, config)
    knots = np.zeros((MPC_TEST_SAMPLES, 2, len(step.consts.hinge_act)))
    knots[1:] = config.mpc_sigma * np.random.default_rng(0).standard_normal(knots[1:].shape)
    hinge_offsets = knot_offsets(knots, planner.horizon, planner.horizon)
    cpu_costs = planner._rollouts(model, planner.datas[0], data, k, hinge_offsets)

    static = backend.Static.of(model, config)
    length = backend.bucket_length(plan.num_steps) + static.mpc[1]
    mx, md, limits, _, offsets, arrays, mocap_pos, mocap_quat = backend._stacked_inputs([model], [plan], config, length)
    _, mjx = backend._jax()

    def costs(arrays, mocap_pos, mocap_quat, knots, body_offsets, qpos, qvel, act):
        m = mx.replace(body_pos=body_offsets)
        d = mjx.forward(m, md.replace(qpos=qpos, qvel=qvel, act=act))
        return backend.candidate_costs(static, m, d, limits, k, knots, arrays, mocap_pos, mocap_quat)

    state = [np.asarray(x, dtype=np.float32) for x in (data.qpos, data.qvel, data.act)]
    first = jax.tree_util.tree_map(lambda a: a[0], (arrays, mocap_pos, mocap_quat))
    mjx_costs = np.asarray(jax.jit(costs)(*first, knots.astype(np.float32), offsets[0], *state))
    np.testing.assert_allclose(mjx_costs[0], cpu_costs[0], rtol=ZERO_OFFSET_COST_RTOL)
    np.testing.assert_allclose(mjx_costs[1:], cpu_costs[1:], rtol=PERTURBED_COST_RTOL)
    for found in (cpu_costs, mjx_costs):  # both planners keep the default law here
        assert found[0] < 0.5 * found[1:].min()


@pytest.mark.slow
def test_mjx_mpc_mode(planned):
    """mode="mpc" on MJX, a batch of two (the planner's branch under vmap): without noise it is the default mode
    exactly; with noise its offsets reach the simulation, the same seed twice giving the same result."""
    model, plan = planned.model, planned.plan
    default = backend.simulate_batch([model] * 2, [plan] * 2, ControllerConfig())[0]
    config = ControllerConfig(mode="mpc", mpc_samples=MPC_TEST_SAMPLES, mpc_sigma=0.0)
    quiet = backend.simulate_batch([model] * 2, [plan] * 2, config)
    np.testing.assert_allclose(quiet[0].qpos, default.qpos, atol=1e-5)
    np.testing.assert_array_equal(quiet[0].qpos, quiet[1].qpos)
    noisy = config.with_options(mpc_sigma=0.01)
    first, again = (backend.simulate_batch([model] * 2, [plan] * 2, noisy)[0] for _ in range(2))
    np.testing.assert_array_equal(first.qpos, again.qpos)
    assert np.abs(first.qpos - default.qpos).max() > 1e-4
    assert first.falls == ()
