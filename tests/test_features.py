"""HumanML3D 263-d features <-> joints: round trips, canonical frame, contacts, the quirks, validation.

Test motions are built here with scipy rotations (independent of the IK/FK under test): every bone keeps a
smoothly varying direction on a skeleton whose bone lengths differ from the target, the root walks a
curved path and the body turns with it.
"""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from motion_diffusion.motion.features import (
    canonicalize,
    features_to_joints,
    forward_kinematics,
    inverse_kinematics,
    joints_to_features,
    uniform_skeleton,
)
from motion_diffusion.motion.quaternion import (
    cont6d_to_matrix,
    matrix_to_cont6d,
    qbetween,
    qmul,
    qrot,
    quat_to_matrix,
)
from motion_diffusion.motion.skeleton import (
    BONE_LENGTHS,
    CONTACTS,
    FEATURE_DIM,
    FPS,
    HEADING_SMOOTH_SIGMA,
    JOINT_INDEX,
    LOCAL_VEL,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
    RIC,
    RIGHT_FOOT_JOINTS,
    ROOT_LIN_VEL,
    ROOT_ROT_VEL,
    ROOT_Y,
    ROT6D,
    TARGET_OFFSETS,
)

ROUND_TRIP_TOL = 1e-4  # metres
LEFT_HIP, RIGHT_HIP = JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]
LEFT_SHOULDER, RIGHT_SHOULDER = JOINT_INDEX["left_shoulder"], JOINT_INDEX["right_shoulder"]
KNEE = JOINT_INDEX["left_knee"]
Y_AXIS = np.array([0.0, 1.0, 0.0])


def _pose_from_bones(root, bones):
    """Joints (T, 22, 3) from root positions (T, 3) and world bone vectors (T, 22, 3), parent by parent."""
    joints = np.zeros(bones.shape)
    joints[:, 0] = root
    for j in range(1, NUM_JOINTS):
        joints[:, j] = joints[:, PARENTS[j]] + bones[:, j]
    return joints


def _walking_clip(frames=100, turn=np.pi / 2, seed=0, target_lengths=False, hip_twist=0.0):
    """A walking, turning clip: yaw turns by ``turn`` radians, bones sway smoothly."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    yaw = 0.4 + turn * t / t[-1]
    lengths = BONE_LENGTHS if target_lengths else BONE_LENGTHS * rng.uniform(0.85, 1.15, NUM_JOINTS)
    rest = RAW_OFFSETS * lengths[:, None]
    axes = rng.normal(size=(NUM_JOINTS, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    angles = rng.uniform(0.1, 0.25, NUM_JOINTS) * np.sin(
        2 * np.pi * rng.uniform(0.5, 1.5, NUM_JOINTS) * t[:, None] + rng.uniform(0, 2 * np.pi, NUM_JOINTS)
    )
    sway = Rotation.from_rotvec((angles[..., None] * axes).reshape(-1, 3))
    heading = Rotation.from_rotvec(np.repeat(yaw[:, None] * Y_AXIS, NUM_JOINTS, axis=0))
    bones = (heading * sway).apply(np.tile(rest, (frames, 1))).reshape(frames, NUM_JOINTS, 3)
    if hip_twist:
        twist = Rotation.from_rotvec(hip_twist * Y_AXIS)
        for j in (LEFT_HIP, RIGHT_HIP):
            bones[:, j] = twist.apply(bones[:, j])
    forward = np.stack([np.sin(yaw), np.zeros(frames), np.cos(yaw)], axis=-1)
    root = np.array([3.0, 0.0, -2.0]) + np.cumsum(forward * 1.3 / FPS, axis=0)
    root[:, 1] = 0.95 + 0.02 * np.sin(4 * np.pi * t)
    return _pose_from_bones(root, bones)


def _rest_clip(frames):
    """The target skeleton's rest pose (faces +Z), repeated, lowest joint at y = 0, root at x = z = 0."""
    pose = _pose_from_bones(np.zeros((1, 3)), np.broadcast_to(TARGET_OFFSETS, (1, NUM_JOINTS, 3)))[0]
    pose[:, 1] -= pose[:, 1].min()
    return np.repeat(pose[None], frames, axis=0)


def _bone_lengths(joints):
    return np.linalg.norm(joints[..., 1:, :] - joints[..., list(PARENTS[1:]), :], axis=-1)


def _facing(pose):
    """Unit facing direction of one pose: up x ((r_hip - l_hip) + (r_shoulder - l_shoulder))."""
    across = pose[RIGHT_HIP] - pose[LEFT_HIP] + pose[RIGHT_SHOULDER] - pose[LEFT_SHOULDER]
    forward = np.cross(Y_AXIS, across)
    return forward / np.linalg.norm(forward)


def _yaw(joints, degrees):
    turned = Rotation.from_rotvec(np.radians(degrees) * Y_AXIS).apply(joints.reshape(-1, 3))
    return turned.reshape(joints.shape)


def test_shape_dtype_and_contact_values():
    joints = _walking_clip(frames=80)
    features = joints_to_features(joints)
    assert features.shape == (79, FEATURE_DIM)
    assert features.dtype == np.float32
    assert set(np.unique(features[:, CONTACTS])) <= {0.0, 1.0}
    recovered = features_to_joints(features)
    assert recovered.shape == (79, NUM_JOINTS, 3)
    assert recovered.dtype == np.float32


@pytest.mark.parametrize("seed", [0, 1])
def test_round_trip_both_paths_reproduce_canonical_joints(seed):
    joints = _walking_clip(frames=120, seed=seed)
    expected = canonicalize(joints)[:-1]
    features = joints_to_features(joints)
    from_ric = features_to_joints(features)
    from_rot = features_to_joints(features, from_rotations=True)
    np.testing.assert_allclose(from_ric, expected, atol=ROUND_TRIP_TOL, rtol=0)
    np.testing.assert_allclose(from_rot, expected, atol=ROUND_TRIP_TOL, rtol=0)
    np.testing.assert_allclose(from_ric, from_rot, atol=ROUND_TRIP_TOL, rtol=0)
    # the input was really changed: other bone lengths, moved and turned
    assert np.abs(_bone_lengths(joints) - BONE_LENGTHS[1:]).max() > 0.01
    for path in (from_ric, from_rot):
        np.testing.assert_allclose(_bone_lengths(path) - BONE_LENGTHS[1:], 0.0, atol=1e-5)


def test_features_invariant_to_global_translation_and_yaw():
    joints = _walking_clip(frames=90, seed=2)
    reference = joints_to_features(joints)
    moved = _yaw(joints, 137.0) + np.array([-4.0, 0.7, 9.0])
    np.testing.assert_allclose(joints_to_features(moved), reference, atol=1e-5, rtol=0)
    np.testing.assert_allclose(canonicalize(moved), canonicalize(joints), atol=1e-9, rtol=0)


def test_canonical_frame_floor_origin_and_facing():
    joints = _walking_clip(frames=90, seed=3)
    canonical = canonicalize(joints)
    assert canonical[..., 1].min() == pytest.approx(0.0, abs=1e-12)
    recovered = features_to_joints(joints_to_features(joints))
    assert recovered[..., 1].min() == pytest.approx(canonical[:-1, :, 1].min(), abs=1e-5)
    assert recovered[..., 1].min() > -1e-5
    np.testing.assert_allclose(recovered[0, 0, [0, 2]], 0.0, atol=1e-7)
    np.testing.assert_allclose(_facing(recovered[0]), [0.0, 0.0, 1.0], atol=1e-6)
    # the input faced elsewhere and stood elsewhere
    assert abs(_facing(joints[0])[2]) < 0.99
    assert np.linalg.norm(joints[0, 0, [0, 2]]) > 1.0


def test_frame_zero_features_are_in_the_world_frame():
    """At frame 0 the heading is forced to identity, so ric and local velocities need no rotation."""
    canonical = canonicalize(_walking_clip(frames=60, seed=4))
    features = joints_to_features(canonical)
    root_xz = canonical[0, 0] * [1.0, 0.0, 1.0]
    np.testing.assert_allclose(features[0, RIC].reshape(21, 3), canonical[0, 1:] - root_xz, atol=1e-6)
    np.testing.assert_allclose(features[:, ROOT_Y][:, 0], canonical[:-1, 0, 1], atol=1e-6)
    local_vel = features[0, LOCAL_VEL].reshape(NUM_JOINTS, 3)
    np.testing.assert_allclose(local_vel, canonical[1] - canonical[0], atol=1e-6)


def test_uniform_skeleton_keeps_directions_sets_lengths_scales_root():
    joints = _walking_clip(frames=40, seed=5)
    uniform = uniform_skeleton(joints)
    np.testing.assert_allclose(_bone_lengths(uniform) - BONE_LENGTHS[1:], 0.0, atol=1e-9)

    def directions(x):
        bones = x[:, 1:] - x[:, list(PARENTS[1:])]
        return bones / np.linalg.norm(bones, axis=-1, keepdims=True)

    np.testing.assert_allclose(directions(uniform), directions(joints), atol=1e-9)
    knee, ankle = JOINT_INDEX["right_knee"], JOINT_INDEX["right_ankle"]
    source_leg = _bone_lengths(joints)[0, knee - 1] + _bone_lengths(joints)[0, ankle - 1]
    ratio = (BONE_LENGTHS[knee] + BONE_LENGTHS[ankle]) / source_leg
    np.testing.assert_allclose(uniform[:, 0], joints[:, 0] * ratio, atol=1e-12)


def test_canonical_clip_is_a_fixed_point():
    clip = _rest_clip(30)
    clip[:, :, 2] += 0.03 * np.arange(30)[:, None]  # walk forward, keep the pose
    elbow, wrist = JOINT_INDEX["left_elbow"], JOINT_INDEX["left_wrist"]
    swing = Rotation.from_rotvec(np.outer(0.5 * np.sin(np.arange(30) / 5), [1.0, 0.0, 0.0]))
    clip[:, wrist] = clip[:, elbow] + swing.apply(clip[:, wrist] - clip[:, elbow])
    np.testing.assert_allclose(canonicalize(clip), clip, atol=1e-12)


def test_ik_fk_round_trip_and_batching():
    canonical = canonicalize(_walking_clip(frames=50, seed=6))
    quats = inverse_kinematics(canonical)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(quats[0, 0], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(forward_kinematics(quats, canonical[:, 0]), canonical, atol=1e-12)
    batch = np.stack([canonical, _yaw(canonical, 40.0)])
    batched = inverse_kinematics(batch)
    np.testing.assert_allclose(batched[0], quats, atol=1e-12)
    np.testing.assert_allclose(forward_kinematics(batched, batch[:, :, 0]), batch, atol=1e-12)


@pytest.mark.parametrize(("step", "contact"), [(0.0, 1.0), (0.04, 1.0), (0.05, 0.0), (0.10, 0.0)])
def test_contacts_follow_the_squared_displacement_threshold(step, contact):
    clip = _rest_clip(20)
    clip[10:, :, 0] += step * np.arange(1, 11)[:, None]  # still for 10 frames, then sliding sideways
    contacts = joints_to_features(clip)[:, CONTACTS]
    np.testing.assert_array_equal(contacts[:9], 1.0)
    np.testing.assert_array_equal(contacts[9:], contact)


def test_contacts_per_foot_still_and_swinging():
    clip = _rest_clip(15)
    hip = JOINT_INDEX["right_hip"]
    leg = [JOINT_INDEX["right_knee"], *RIGHT_FOOT_JOINTS]
    # 0.15 rad/frame about the hip: about 12 cm/frame at the ankle
    swing = Rotation.from_rotvec(np.outer(-0.15 * np.arange(15), [1.0, 0.0, 0.0]))
    for j in leg:
        clip[:, j] = clip[:, hip] + swing.apply(clip[:, j] - clip[:, hip])
    assert np.linalg.norm(np.diff(clip[:, RIGHT_FOOT_JOINTS], axis=0), axis=-1).min() > 0.1
    contacts = joints_to_features(clip)[:, CONTACTS]
    np.testing.assert_array_equal(contacts[:, :2], 1.0)  # left ankle, left foot
    np.testing.assert_array_equal(contacts[:, 2:], 0.0)  # right ankle, right foot


def test_yaw_velocity_matches_an_independent_smoothed_heading():
    """Quirks 1, 2, 7: sign-mixed across vector, Gaussian sigma 20 'nearest', frame 0 identity, half angle."""
    joints = _walking_clip(frames=90, seed=7, hip_twist=np.radians(35))
    canonical = canonicalize(joints)
    across = canonical[:, LEFT_HIP] - canonical[:, RIGHT_HIP] + canonical[:, RIGHT_SHOULDER]
    across -= canonical[:, LEFT_SHOULDER]
    forward = np.cross(Y_AXIS, across / np.linalg.norm(across, axis=-1, keepdims=True))
    forward = gaussian_filter1d(forward, HEADING_SMOOTH_SIGMA, axis=0, mode="nearest")
    angle = np.arctan2(forward[:, 0], forward[:, 2])
    angle[0] = 0.0  # forced identity
    expected = -np.diff(angle) / 2
    yaw_vel = joints_to_features(joints)[:, ROOT_ROT_VEL][:, 0]
    np.testing.assert_allclose(yaw_vel, expected, atol=1e-6)
    # the first sample is an outlier: the twisted hips make the raw heading at frame 0 differ from +Z
    assert abs(yaw_vel[0]) > 10 * np.abs(yaw_vel[1:]).max()


def test_arm_chain_rotations_start_from_the_root_heading():
    """Quirk 3: the collars' 6D rotations are relative to the root heading, not to spine3's rotation."""
    canonical = canonicalize(_walking_clip(frames=50, seed=15))
    features = joints_to_features(canonical)
    half_angle = np.concatenate([[0.0], np.cumsum(features[:-1, 0])])
    heading = Rotation.from_rotvec(np.outer(2 * half_angle, Y_AXIS)).as_matrix()
    spine3 = JOINT_INDEX["spine3"]
    rotations = cont6d_to_matrix(features[:, ROT6D].reshape(-1, NUM_JOINTS - 1, 6))
    for collar in (JOINT_INDEX["left_collar"], JOINT_INDEX["right_collar"]):
        bone = canonical[:-1, collar] - canonical[:-1, spine3]
        world = np.einsum("tij,tjk,k->ti", heading, rotations[:, collar - 1], RAW_OFFSETS[collar])
        np.testing.assert_allclose(world, bone / np.linalg.norm(bone, axis=-1, keepdims=True), atol=1e-5)


def test_root_velocity_is_in_the_next_frames_heading():
    joints = _walking_clip(frames=60, seed=8)
    canonical = canonicalize(joints)
    heading = inverse_kinematics(canonical)[:, 0]
    step = canonical[1:, 0] - canonical[:-1, 0]
    expected = qrot(heading[1:], step)[:, [0, 2]]
    np.testing.assert_allclose(joints_to_features(joints)[:, ROOT_LIN_VEL], expected, atol=1e-6)
    assert not np.allclose(qrot(heading[:-1], step)[:, [0, 2]], expected, atol=1e-4)


def test_yaw_wrap_quirk_and_fix():
    joints = _walking_clip(frames=120, seed=9, turn=np.radians(300))
    expected = canonicalize(joints)[:-1]
    faithful = joints_to_features(joints)
    fixed = joints_to_features(joints, fix_yaw_wrap=True)
    differs = np.flatnonzero(~np.isclose(faithful[:, 0], fixed[:, 0], atol=1e-7))
    assert len(differs) == 1  # exactly one sample, where the heading crosses 180 degrees
    i = differs[0]
    assert faithful[i, 0] == pytest.approx(-fixed[i, 0], abs=1e-7) and abs(fixed[i, 0]) > 1e-3
    assert np.all(np.sign(fixed[1:, 0]) == np.sign(fixed[1, 0]))
    np.testing.assert_array_equal(faithful[:, 1:], fixed[:, 1:])
    for from_rotations in (False, True):
        good = features_to_joints(fixed, from_rotations=from_rotations)
        np.testing.assert_allclose(good, expected, atol=ROUND_TRIP_TOL, rtol=0)
        drifted = features_to_joints(faithful, from_rotations=from_rotations)
        np.testing.assert_allclose(drifted[: i + 1], expected[: i + 1], atol=ROUND_TRIP_TOL, rtol=0)
        assert np.abs(drifted - expected).max() > 0.1


def test_batched_features_to_joints_equals_per_clip():
    clips = [joints_to_features(_walking_clip(frames=61, seed=s)) for s in (10, 11, 12)]
    batch = np.stack(clips).reshape(3, 1, 60, FEATURE_DIM)
    for from_rotations in (False, True):
        batched = features_to_joints(batch, from_rotations=from_rotations)
        assert batched.shape == (3, 1, 60, NUM_JOINTS, 3)
        for k, clip in enumerate(clips):
            np.testing.assert_allclose(batched[k, 0], features_to_joints(clip, from_rotations), atol=1e-6)


def test_quaternion_helpers_agree():
    rng = np.random.default_rng(13)
    u, v = rng.normal(size=(2, 50, 3))
    q = qbetween(u, v)
    assert np.all(q[:, 0] >= 0)
    np.testing.assert_allclose(np.cross(qrot(q, u), v), 0.0, atol=1e-12)  # u lands on v's direction
    np.testing.assert_allclose(qbetween(u, -u)[:, 0], 0.0, atol=1e-12)  # half turn, not NaN
    np.testing.assert_allclose(qrot(qbetween(u, -u), u), -u, atol=1e-12)
    p = qbetween(v, u)
    np.testing.assert_allclose(quat_to_matrix(qmul(q, p)), quat_to_matrix(q) @ quat_to_matrix(p), atol=1e-12)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", quat_to_matrix(q), u), qrot(q, u), atol=1e-12)
    matrices = quat_to_matrix(q)
    np.testing.assert_allclose(cont6d_to_matrix(matrix_to_cont6d(matrices)), matrices, atol=1e-12)


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda j: _with(j, (3, 5, 1), np.nan), "NaN"),
        (lambda j: j[:, :21], "shape"),
        (lambda j: j[:1], "at least 2 frames"),
        (lambda j: np.stack([j, j]), "one clip"),
        (lambda j: _with(j, (slice(None), KNEE), j[:, PARENTS[KNEE]]), "zero length"),
    ],
)
def test_bad_joints_raise(make, message):
    with pytest.raises(ValueError, match=message):
        joints_to_features(make(_walking_clip(frames=20, seed=14)))


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (np.zeros((10, FEATURE_DIM - 1)), "shape"),
        (_with(np.zeros((10, FEATURE_DIM)), (2, 7), np.inf), "NaN/Inf"),
        (np.zeros(FEATURE_DIM), "shape"),
    ],
)
def test_bad_features_raise(features, message):
    with pytest.raises(ValueError, match=message):
        features_to_joints(features)


def test_bad_fk_inputs_raise():
    quats = np.tile([1.0, 0.0, 0.0, 0.0], (5, NUM_JOINTS, 1))
    with pytest.raises(ValueError, match="root_pos"):
        forward_kinematics(quats, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="local_quats"):
        forward_kinematics(quats[:, :3], np.zeros((5, 3)))
