"""Retargeting: joints -> qpos by IK on the humanoid, qpos -> joints by FK, and the control-rate reference."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motion_diffusion.motion.features import features_to_joints, joints_to_features
from motion_diffusion.motion.skeleton import JOINT_NAMES
from physics_correct import humanoid, retarget


@pytest.fixture(scope="module")
def model():
    return humanoid.load_humanoid()


def smooth_qpos(model, seconds=3.0, fps=20, seed=0):
    """A smooth pose trajectory: walking root with turning yaw, every hinge swinging inside its range, no twist."""
    t = np.arange(int(seconds * fps) + 1) / fps
    rng = np.random.default_rng(seed)
    qpos = np.tile(model.qpos0, (len(t), 1))
    qpos[:, 0] = 0.3 * t
    qpos[:, 1] = -0.8 * t
    qpos[:, 2] += 0.02 * np.sin(3 * t) - 0.05
    yaw = 0.8 * np.sin(t)
    qpos[:, 3:7] = Rotation.from_euler("xyz", np.stack([0.1 * np.sin(2 * t), 0.05 * t, yaw], 1)).as_quat(
        scalar_first=True
    )
    low, high = model.jnt_range[1:, 0], model.jnt_range[1:, 1]
    phase, freq = rng.uniform(0, 2 * np.pi, 69), rng.uniform(0.3, 1.0, 69)
    qpos[:, 7:] = (low + high) / 2 + 0.4 * (high - low) / 2 * np.sin(2 * np.pi * freq * t[:, None] + phase)
    qpos[:, 7 + humanoid.twist_dofs(model) - 6] = 0.0  # twist is unobservable from joint positions
    return qpos


def test_coordinate_helpers_apply_the_sole_offset():
    joints = np.random.default_rng(1).normal(size=(4, 22, 3))
    points = retarget.joints_to_mujoco(joints)
    assert np.allclose(points[..., 2], joints[..., 1] + humanoid.SOLE_OFFSET)
    assert np.allclose(points[..., 1], -joints[..., 2])
    assert np.allclose(retarget.mujoco_to_joints(points), joints)


def test_rest_pose_stands_on_the_floor(model):
    joints = retarget.qpos_to_joints(model, model.qpos0)[0]
    feet = joints[[JOINT_NAMES.index("left_foot"), JOINT_NAMES.index("right_foot")], 1]
    assert feet.min() == pytest.approx(0.0, abs=2e-3)
    heights = retarget.flat_foot_heights(model)
    assert heights[[1, 3]] == pytest.approx([0.0, 0.0]) and np.all(heights[[0, 2]] > 0.05)


def test_round_trip_joints_qpos_joints(model):
    """FK of a known trajectory, IK back, FK again: the joints come back to well under a millimetre."""
    joints = retarget.qpos_to_joints(model, smooth_qpos(model))
    result = retarget.retarget(joints, model)
    back = retarget.qpos_to_joints(model, result.qpos)
    error = np.linalg.norm(back - joints, axis=-1)
    assert error.mean() < 1e-3 and np.percentile(error, 99) < 5e-3
    assert np.allclose(result.error, error.mean(axis=1), atol=1e-6)


def test_round_trip_through_humanml3d_features(model):
    """HumanML3D's canonicalisation (uniform skeleton, floor, facing +Z) keeps the motion retargetable."""
    joints = retarget.qpos_to_joints(model, smooth_qpos(model, seed=3))
    canonical = features_to_joints(joints_to_features(joints).astype(np.float64))
    result = retarget.retarget(canonical, model)
    back = retarget.qpos_to_joints(model, result.qpos)
    assert np.linalg.norm(back - canonical, axis=-1).mean() < 2e-3


def test_analytic_seed_gets_the_bone_directions(model):
    joints = retarget.qpos_to_joints(model, smooth_qpos(model, seed=5))
    seed = retarget.analytic_seed(model, retarget.joints_to_mujoco(joints))
    seeded = retarget.qpos_to_joints(model, seed)
    error = np.linalg.norm(seeded - joints, axis=-1).mean()
    rest = np.linalg.norm(retarget.qpos_to_joints(model, np.tile(model.qpos0, (len(joints), 1))) - joints, axis=-1)
    assert error < 0.03 and error < 0.2 * rest.mean()


def test_level_toes_lays_planted_toes_flat_and_keeps_the_joints(model):
    """A heel rise on turned feet: with the toes planted (weight 1), the toe bodies lie level and head with the
    foot; weight 0 leaves them alone, 0.5 goes halfway; no HumanML3D joint moves."""
    import mujoco

    qpos = np.tile(model.qpos0, (3, 1))
    for side in ("left", "right"):
        qpos[:, model.joint(f"{side}_ankle_x").qposadr[0]] = -0.5  # heel up
        qpos[:, model.joint(f"{side}_hip_z").qposadr[0]] = 0.3  # turned, so the heading matters
    weights = np.array([[1.0, 1.0], [1.0, 0.0], [0.5, 1.0]])
    leveled = retarget.level_toes(model, qpos, weights)
    assert np.allclose(retarget.qpos_to_joints(model, leveled), retarget.qpos_to_joints(model, qpos))
    data = mujoco.MjData(model)
    data.qpos[:] = leveled[0]
    mujoco.mj_kinematics(model, data)
    for toe in retarget.TOE_BODIES:
        rot = data.xmat[model.body(toe).id].reshape(3, 3)
        foot = data.xmat[model.body_parentid[model.body(toe).id]].reshape(3, 3)
        assert rot[2, 2] == pytest.approx(1.0, abs=1e-6)  # level
        assert np.arctan2(-rot[0, 1], rot[1, 1]) == pytest.approx(np.arctan2(-foot[0, 1], foot[1, 1]), abs=1e-6)
    toe = {
        side: slice(adr, adr + 3)
        for side, adr in enumerate(model.jnt_qposadr[model.body(name).jntadr[0]] for name in retarget.TOE_BODIES)
    }
    assert not np.allclose(leveled[0, toe[1]], qpos[0, toe[1]])
    assert np.array_equal(leveled[1, toe[1]], qpos[1, toe[1]])
    assert np.allclose(leveled[2, toe[0]], 0.5 * (qpos[2, toe[0]] + leveled[0, toe[0]]))


def test_reference_trajectory_interpolates_and_differentiates(model):
    fps, rate = 20.0, 120.0
    qpos = smooth_qpos(model, seconds=2.0, seed=7)
    t = np.arange(len(qpos)) / fps
    yaw_rate = 0.9
    qpos[:, 3:7] = Rotation.from_euler("z", yaw_rate * t[:, None]).as_quat(scalar_first=True)
    qpos[:, 7] = np.sin(2.0 * t)  # one hinge with a known derivative
    ref = retarget.reference_trajectory(qpos, fps, rate, smooth_sigma=0.0)
    assert len(ref.qpos) == int(round(t[-1] * rate)) + 1 and ref.rate == rate
    assert np.allclose(ref.qpos[:: int(rate / fps)], qpos, atol=1e-9)  # the frames themselves are kept
    inner = slice(12, -12)
    assert np.allclose(ref.qvel[inner, 6], 2.0 * np.cos(2.0 * ref.times[inner]), atol=5e-3)
    assert np.allclose(ref.qacc[inner, 6], -4.0 * np.sin(2.0 * ref.times[inner]), atol=5e-2)
    assert np.allclose(ref.qvel[inner, 3:6], [0.0, 0.0, yaw_rate], atol=1e-3)  # local angular velocity
    assert np.allclose(ref.qvel[inner, 0], 0.3, atol=1e-6) and np.allclose(ref.qvel[inner, 1], -0.8, atol=1e-6)
    smoothed = retarget.reference_trajectory(qpos, fps, rate, smooth_sigma=2.0)
    assert np.abs(np.diff(smoothed.qpos[:, 7:], 2, axis=0)).mean() < np.abs(np.diff(ref.qpos[:, 7:], 2, axis=0)).mean()


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda j: j[:, :20], r"shape \(T, 22, 3\)"),
        (lambda j: j[:1], "at least 2 frames"),
        (lambda j: np.where(np.arange(22)[None, :, None] == 4, np.nan, j), "NaN"),
        (lambda j: j * 3.0, "absurd pose"),
    ],
)
def test_bad_input_is_a_clear_error(model, corrupt, message):
    joints = retarget.qpos_to_joints(model, smooth_qpos(model, seconds=0.5))
    with pytest.raises(ValueError, match=message):
        retarget.retarget(corrupt(joints), model)


def test_one_bone_off_by_more_than_half_is_named(model):
    joints = retarget.qpos_to_joints(model, smooth_qpos(model, seconds=0.5))
    wrist = JOINT_NAMES.index("left_wrist")
    elbow = JOINT_NAMES.index("left_elbow")
    joints[3, wrist] = joints[3, elbow] + 2.0 * (joints[3, wrist] - joints[3, elbow])
    with pytest.raises(ValueError, match="left_wrist.*frame 3"):
        retarget.retarget(joints, model)
