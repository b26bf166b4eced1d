"""The default controller and ``correct``: tracking, repairs of corrupted clips, fall handling, the API, errors.

Test clips are built here from foot and pelvis paths by IK on the humanoid itself (standing with sway, a slow
walk with planted feet), so they are kinematically exact for the model and physically plausible.
"""

import os

import mujoco
import numpy as np
import pytest

from motion_diffusion.motion import Motion, Normalizer
from motion_diffusion.motion.contacts import sole_heights
from motion_diffusion.motion.features import joints_to_features
from motion_diffusion.motion.skeleton import FEATURE_DIM, FOOT_JOINTS, FPS, JOINT_INDEX
from physics_correct import humanoid, retarget
from physics_correct.backends import SimulationError
from physics_correct.controller import ControllerConfig, LawConstants, control, wholebody_torques
from physics_correct.controller.balance import FootModel, support_index, support_torques
from physics_correct.controller.law import assist_limits
from physics_correct.controller.reference import contact_weights, lift_above_floor, lower_hovering
from physics_correct.correct import CorrectionResult, correct, correct_joints, plan_motion, spawn_pool

ANKLES = (JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"])
TOES = (JOINT_INDEX["left_foot"], JOINT_INDEX["right_foot"])


@pytest.fixture(scope="module")
def model():
    return humanoid.load_humanoid()


def _rest_joints(model) -> np.ndarray:
    qpos = model.qpos0.copy()
    for side, sign in (("left", 1.0), ("right", -1.0)):
        qpos[model.joint(f"{side}_shoulder_y").qposadr[0]] = 1.3 * sign  # arms down
        qpos[model.joint(f"{side}_elbow_z").qposadr[0]] = -0.2 * sign
    return retarget.qpos_to_joints(model, qpos)[0]


KNEE_BEND_DROP = 0.03  # m, the pelvis is this much lower than in the straight-legged rest pose


def _clip_from_paths(model, pelvis: np.ndarray, feet: dict[int, np.ndarray]) -> np.ndarray:
    """Joints (T, 22, 3) of the model following a pelvis path and foot-joint paths (HumanML3D frame), with
    relaxed (slightly bent) knees."""
    rest = _rest_joints(model)
    shift = pelvis - rest[0] - [0.0, KNEE_BEND_DROP, 0.0]
    targets = rest[None] + shift[:, None]
    for joint, path in feet.items():
        targets[:, joint] = path
    for side in ("left", "right"):  # knees between hips and ankles, bent slightly forward
        hip, ankle = targets[:, JOINT_INDEX[f"{side}_hip"]], targets[:, JOINT_INDEX[f"{side}_ankle"]]
        targets[:, JOINT_INDEX[f"{side}_knee"]] = 0.5 * (hip + ankle) + [0.0, 0.0, 0.03]
    ik = retarget.solve_ik(model, retarget.joints_to_mujoco(targets))
    joints = retarget.qpos_to_joints(model, ik.qpos)
    joints[..., 1] -= joints[:, list(FOOT_JOINTS), 1].min()
    return joints


def standing_clip(model, seconds=3.0):
    """Standing with a slow 2 cm side-to-side sway and a small dip of the pelvis."""
    t = np.arange(int(seconds * FPS) + 1) / FPS
    rest = _rest_joints(model)
    pelvis = rest[0] + np.stack([0.02 * np.sin(np.pi * t), -0.02 * (1 - np.cos(np.pi * t)), 0 * t], 1)
    feet = {j: np.repeat(rest[j][None], len(t), 0) for j in ANKLES + TOES}
    return _clip_from_paths(model, pelvis, feet)


def walking_clip(model, seconds=4.0, speed=0.5, step_time=0.6, swing=(0.05, 0.95)):
    """A slow walk: each foot is planted between steps and swings in a smooth arc to its next placement."""
    t = np.arange(int(seconds * FPS) + 1) / FPS
    rest = _rest_joints(model)
    start, stop = 0.5, seconds - 0.5  # stand still at both ends
    travel = speed * np.clip(t - start, 0.0, stop - start)
    sway = np.where((t > start) & (t < stop), 0.015 * np.sin(np.pi * (t - start) / step_time), 0.0)
    pelvis = rest[0] + np.stack([sway, 0 * t, travel], 1)
    forward, lift = np.zeros((2, len(t))), np.zeros((2, len(t)))
    for k in range(int(np.ceil((stop - start) / step_time)) + 1):
        side = k % 2
        t0 = start + k * step_time
        phase = np.clip(((t - t0) / step_time - swing[0]) / (swing[1] - swing[0]), 0.0, 1.0)
        landing = min(speed * step_time * (k + 1), travel[-1])
        previous = forward[side, np.searchsorted(t, t0)]
        later = t >= t0
        glide = np.clip((phase[later] - 0.15) / 0.7, 0.0, 1.0)  # move forward once the foot is off the floor
        forward[side, later] = previous + (landing - previous) * 0.5 * (1 - np.cos(np.pi * glide))
        lift[side] += np.where((phase > 0) & (phase < 1), np.sin(np.pi * phase), 0.0)
    feet = {}
    for side, (ankle, toe) in enumerate(zip(ANKLES, TOES, strict=True)):
        for joint in (ankle, toe):
            feet[joint] = rest[joint] + np.stack([0 * t, 0.08 * lift[side], forward[side]], 1)
    return _clip_from_paths(model, pelvis, feet)


@pytest.fixture(scope="module")
def stand(model):
    return standing_clip(model)


@pytest.fixture(scope="module")
def walk(model):
    return walking_clip(model)


def test_clips_are_clean(stand, walk):
    """The test clips themselves are physically clean: feet on the floor, little skate."""
    from physics_correct.metrics import physics_metrics

    for clip, limit in ((stand, 1.0), (walk, 8.0)):
        metrics = physics_metrics(clip)
        assert metrics["penetration_mm"] == 0.0 and metrics["phys_err_mm"] < limit


def test_standing_changes_little(stand):
    out, report = correct_joints(stand)
    assert out.shape == stand.shape
    assert report["falls"] == 0 and report["mpjpe_mm"] < 30.0
    assert report["metrics_after"]["penetration_mm"] <= 1.0
    assert report["metrics_after"]["phys_err_mm"] <= report["metrics_before"]["phys_err_mm"] + 3.0
    assert report["assist_mean_bw"] < 0.1


def test_a_five_second_standing_hold_needs_no_assist(model):
    """The issue's standing-hold stability test, fully physical: 5 s of standing (sway and dip) with the assist off."""
    hold = standing_clip(model, seconds=5.0)
    _, report = correct_joints(hold, config=ControllerConfig(assist_force=0.0, assist_torque=0.0))
    assert report["falls"] == 0 and report["mpjpe_mm"] < 40.0
    assert report["assist_max_n"] == 0.0 and report["assist_max_nm"] == 0.0


def test_slow_walk_is_tracked_without_falls(walk):
    out, report = correct_joints(walk)
    assert report["falls"] == 0 and report["mpjpe_mm"] < 80.0
    assert report["metrics_after"]["penetration_mm"] <= 1.0
    travelled = out[-1, 0, 2] - out[0, 0, 2]
    assert travelled == pytest.approx(walk[-1, 0, 2] - walk[0, 0, 2], abs=0.15)


def _hover(clip, height=0.10):
    out = clip.copy()
    third = len(clip) // 3
    out[third : 2 * third, :, 1] += height
    return out


def test_hover_is_repaired(stand):
    out, report = correct_joints(_hover(stand))
    before, after = report["metrics_before"]["phys_err_mm"], report["metrics_after"]["phys_err_mm"]
    assert before > 20.0 and after <= 0.3 * before
    soles = sole_heights(out[len(out) // 3 : 2 * len(out) // 3])[:, list(FOOT_JOINTS)]
    assert soles.min(axis=1).max() < 0.015  # the simulated body keeps a foot on the floor


def test_sink_is_repaired(stand):
    sunk = stand.copy()
    sunk[..., 1] -= 0.05
    out, report = correct_joints(sunk)
    before, after = report["metrics_before"], report["metrics_after"]
    assert before["penetration_mm"] > 30.0 and after["penetration_mm"] <= 1.0
    assert after["phys_err_mm"] <= 0.4 * before["phys_err_mm"]


def test_hovering_is_lowered_and_jumps_keep_their_flight(stand):
    """The reference clean-up puts a hovering body back on the floor but leaves a ballistic flight alone."""
    hovering = _hover(stand)
    lowered = lower_hovering(hovering, FPS)
    assert np.abs(lowered - stand).max() < 0.01
    jump = stand.copy()
    flight = np.arange(20, 28)  # 0.4 s in the air, 20 cm high: ballistic
    jump[flight, :, 1] += 0.2 * np.sin(np.pi * (flight - 19) / 9)[:, None]
    assert np.array_equal(lower_hovering(jump, FPS), jump)
    # A flight inside a hovering stretch keeps its arc: only the hover is taken away.
    assert np.abs(lower_hovering(_hover(jump), FPS) - jump).max() < 0.005
    # A sunk stretch soon after the landing: the smoothed lift raises the landing by a few cm too, and the flight
    # before it must not be flattened with it (it was, by 19 cm; now it moves by at most 3.3 cm).
    sunk = jump.copy()
    sunk[32:50, :, 1] -= 0.05 * np.minimum(1.0, np.arange(1, 19) / 4)[:, None]
    prepared = lower_hovering(lift_above_floor(sunk), FPS)
    assert np.abs(prepared[flight] - jump[flight]).max() < 0.04


def test_support_weights_follow_the_contacts_and_toes_stay_level_past_them():
    """Support weights are the foot contacts; toe-levelling weights are 1 through a toe contact, fade out over the
    frames of the swing either side and are 0 far from any contact."""
    contacts = np.zeros((30, 4), dtype=bool)
    contacts[5:15, :2] = True  # the left foot stands for 10 frames, its toe for the first 8
    contacts[13:15, 1] = False
    feet, toes = contact_weights(contacts)
    np.testing.assert_array_equal(feet[:, 0], contacts[:, :2].any(axis=1))
    assert np.all(feet[:, 1] == 0.0) and np.all(toes[:, 1] == 0.0)
    assert np.all(toes[5:13, 0] == 1.0)
    assert 0.5 < toes[13, 0] < 1.0 and 0.5 < toes[4, 0] < 1.0 and 0.0 < toes[14, 0] < toes[13, 0]
    assert toes[25:, 0].max() < 1e-6 and toes[0, 0] < 0.01


def test_teleported_frame_is_removed(stand):
    jumped = stand.copy()
    jumped[30, :, 2] += 1.0
    out, report = correct_joints(jumped)
    assert report["teleported_frames"] == 1 and report["falls"] == 0
    assert np.abs(np.diff(out[:, 0], axis=0)).max() < 0.05


def _impossible(stand):
    """The pelvis sails away 3 m sideways in one second with planted-looking feet: cannot be tracked."""
    clip = stand.copy()
    clip[:, :, 0] += np.linspace(0.0, 6.0, len(clip))[:, None]
    return clip


def test_falls_are_detected_and_reset(stand):
    out, report = correct_joints(_impossible(stand))  # no rescue by default (it would drag even this body along)
    assert report["falls"] >= 1 and report["resets"] == report["falls"] and report["rescues"] == 0
    assert np.all(np.isfinite(out))


def test_falls_can_stop_the_simulation(stand):
    with pytest.raises(SimulationError, match="fell"):
        correct_joints(_impossible(stand), config=ControllerConfig(on_fall="stop"))


def test_correct_keeps_the_input_form(stand):
    motion = Motion(stand, fps=FPS, text="a person stands and sways")
    result = correct(motion)
    assert isinstance(result, CorrectionResult) and result.ok
    assert isinstance(result.motion, Motion) and result.motion.text == motion.text
    assert result.motion.num_frames == motion.num_frames
    for key in ("falls", "resets", "assist_mean_n", "assist_max_n", "mpjpe_mm", "metrics_before", "metrics_after"):
        assert key in result.report

    joints = correct(stand.astype(np.float32)).motion
    assert joints.shape == stand.shape and joints.dtype == np.float32


def test_correct_takes_normalised_features(stand):
    features = joints_to_features(stand)
    normalizer = Normalizer(features.mean(axis=0), features.std(axis=0) + 0.1)
    result = correct(normalizer(features), normalized=True, mean=normalizer.mean, std=normalizer.std)
    assert result.ok and result.motion.shape == features.shape == (len(stand) - 1, FEATURE_DIM)
    raw = correct(features).motion
    # Contact simulation amplifies the 1e-8 rounding of the normalisation round trip to a millimetre or two, so
    # the two outputs agree to a few millimetres, not bit for bit; a missed (de)normalisation is off by far more.
    assert np.allclose(normalizer.inverse(result.motion), raw, atol=5e-3)
    assert not np.allclose(result.motion, raw, atol=5e-2)
    with pytest.raises(ValueError, match="mean= and std="):
        correct(features, normalized=True)


def test_a_batch_reports_failures_instead_of_raising(stand):
    bad = stand.copy()
    bad[5, 3] = np.nan
    results = correct([stand[:40], bad], workers=2)
    assert [r.ok for r in results] == [True, False]
    assert results[1].motion is None and "NaN" in results[1].error
    assert np.allclose(results[0].motion, correct(stand[:40]).motion)  # deterministic across processes


class _KillsItsWorker:
    """An item whose unpickling ends the process that receives it, as a crash or the OOM killer would."""

    def __reduce__(self):
        return os._exit, (3,)


def test_an_item_that_kills_its_worker_fails_alone(stand):
    results = correct([stand[:40], _KillsItsWorker(), stand[:30], stand[:25]], workers=2)
    assert [r.ok for r in results] == [True, False, True, True]
    assert "worker process died" in results[1].error
    assert np.allclose(results[2].motion, correct(stand[:30]).motion)


def test_pool_workers_start_with_one_blas_thread_unless_the_user_chose(monkeypatch):
    """Threaded BLAS in every worker of a full pool can make it several times slower (a dense least-squares solve
    in each worker made building the dataset take ten times as long); the parent's environment stays as it was."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with spawn_pool(1) as pool:
        seen = [pool.submit(os.getenv, name).result() for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")]
    assert seen == ["1", "3"]
    assert "OPENBLAS_NUM_THREADS" not in os.environ


@pytest.mark.parametrize(
    "make_input, options, message",
    [
        (lambda s: s[:, :20], {}, "Motion, joints"),
        (lambda s: s[:2], {}, "at least 4 frames"),
        (lambda s: np.where(np.arange(22)[None, :, None] == 7, np.inf, s), {}, "NaN/Inf"),
        (lambda s: s * np.where(np.arange(22) == 19, 2.5, 1.0)[None, :, None], {}, "absurd pose"),
        (lambda s: s, {"assist_force": -1.0}, "assist_force"),
        (lambda s: s, {"balance_gain": 2.0}, "unknown controller options"),
        (lambda s: s, {"on_fall": "explode"}, "on_fall"),
    ],
)
def test_bad_input_is_a_clear_error(stand, make_input, options, message):
    with pytest.raises(ValueError, match=message):
        correct(make_input(stand), **options)


def test_a_few_absurd_frames_are_repaired_and_counted(stand):
    """Generated motions sometimes collapse a bone in a frame or two: those frames are interpolated (up to
    ``repair_absurd_frames`` of the clip) and the report counts them; more than that is still an error."""
    glitched = stand[:40].copy()
    glitched[[12, 25], 5] = glitched[[12, 25], 2]  # the right knee collapses onto its hip in two frames
    result = correct(glitched)
    assert result.ok and result.report["absurd_frames_repaired"] == 2
    clean = correct(stand[:40])
    assert clean.report["absurd_frames_repaired"] == 0
    assert np.abs(result.motion - clean.motion).max() < 0.05  # repaired frames track like the clean ones
    with pytest.raises(ValueError, match="2 frames, 0 frames tolerated"):
        correct(glitched, repair_absurd_frames=0.0)
    many = stand[:40].copy()
    many[10:20, 5] = many[10:20, 2]
    with pytest.raises(ValueError, match="absurd pose"):
        correct(many)


def test_feedforward_puts_the_weight_on_the_feet(model):
    """Inverse dynamics of a still standing pose: both feet carry the weight, nothing is left for the root."""
    feet = FootModel.of(model)
    data = mujoco.MjData(feet.free_model)
    still = np.zeros(model.nv)
    tau, residual = wholebody_torques(feet, data, model.qpos0, still, still, np.array([1.0, 1.0]))
    assert np.abs(residual).max() < 1.0 and np.allclose(tau[:6], 0.0)
    tau, residual = wholebody_torques(feet, data, model.qpos0, still, still, np.array([0.0, 0.0]))
    assert residual[2] == pytest.approx(humanoid.total_mass(model) * 9.81, rel=1e-3)


def test_feedforward_for_each_support(model):
    """One row per support the simulation may meet: no foot leaves the whole weight to the root; one foot of a
    two-footed stance carries the weight but cannot hold the centre of mass between the feet (a roll moment
    is left over); both feet leave nothing. Edge forces are non-negative, so no foot ever pulls."""
    feet = FootModel.of(model)
    data = mujoco.MjData(feet.free_model)
    still = np.zeros(model.nv)
    taus, residuals = support_torques(feet, data, model.qpos0, still, still, np.array([1.0, 1.0]))
    weight = humanoid.total_mass(model) * 9.81
    assert residuals[support_index(False, False), 2] == pytest.approx(weight, rel=1e-3)
    assert np.abs(residuals[support_index(True, True)]).max() < 1.0
    for side in ((True, False), (False, True)):
        row = residuals[support_index(*side)]
        assert abs(row[2]) < 0.05 * weight and np.linalg.norm(row[3:]) > 10.0
    assert np.allclose(taus[:, :6], 0.0)
    # A foot that the reference does not load (weight 0) never pushes, whatever the simulation's support.
    _, residuals = support_torques(feet, data, model.qpos0, still, still, np.array([1.0, 0.0]))
    assert np.allclose(residuals[support_index(False, True)], residuals[support_index(False, False)])


def test_assist_limits_cap_the_magnitude(model):
    """The per-axis limits of one step form a box inside the ball of the cap, stretched along the push."""
    consts = LawConstants.of(model)
    rng = np.random.default_rng(0)
    for _ in range(20):
        ctrl = rng.normal(scale=0.2, size=model.nu)
        length, velocity = rng.normal(scale=0.05, size=6), rng.normal(size=6)
        limits = assist_limits(consts, ctrl, length, velocity, 200.0, 80.0)
        push = consts.assist_kp * (ctrl[consts.assist_act] - length) - consts.assist_kv * velocity
        assert np.linalg.norm(limits[:3]) == pytest.approx(200.0) and np.linalg.norm(limits[3:]) == pytest.approx(80.0)
        assert np.allclose(limits[:3] / 200.0, np.abs(push[:3]) / np.linalg.norm(push[:3]))
        assert np.allclose(limits[3:] / 80.0, np.abs(push[3:]) / np.linalg.norm(push[3:]))


def test_the_assist_never_exceeds_its_caps(walk):
    """Per-axis caps would let the force reach sqrt(3) times the cap; the magnitude stays under it."""
    config = ControllerConfig(assist_force=0.05, assist_torque=10.0)
    _, report = correct_joints(walk, config=config)
    weight = humanoid.total_mass(humanoid.load_humanoid()) * 9.81
    assert report["assist_saturated"] > 0.1  # the small caps bind ...
    assert report["assist_max_n"] <= 0.05 * weight * (1 + 1e-6)  # ... on the magnitude
    assert report["assist_max_nm"] <= 10.0 * (1 + 1e-6)


def test_balance_layer_is_silent_on_the_reference(model, walk):
    """With the body exactly on the reference, the law's output is the plan's targets plus the feed-forward."""
    planned = plan_motion(walk, FPS, ControllerConfig(), model)
    plan, consts = planned.plan, LawConstants.of(planned.model)
    for k in (0, plan.num_steps // 2):
        ctrl = control(consts, plan, k, plan.qpos[k, :7], plan.foot_pose[k], np.array([0.5, 0.5]))
        expected = plan.ctrl[k].copy()
        both = support_index(True, True)
        expected[consts.hinge_act] += plan.tau_ff[k, both] / consts.kp
        expected[consts.assist_act] += plan.root_residual[k, both] / consts.assist_kp
        assert np.allclose(ctrl, expected, atol=1e-9)
        moved = plan.foot_pose[k].copy()
        moved[:, 0] += 0.05  # feet 5 cm to the side of the reference: the stance legs react
        assert not np.allclose(control(consts, plan, k, plan.qpos[k, :7], moved, np.array([0.5, 0.5])), expected)
