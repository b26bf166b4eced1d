"""HumanML3D's 263-d motion features <-> 22-joint positions, with the semantics of its ``process_file``.

``joints_to_features`` reproduces HumanML3D's pipeline, quirks included, so that features we write match
the real data: uniform skeleton, floor, origin, facing +Z, a smoothed heading from a sign-mixed
left-right vector, arm chains that start from the root heading, and the yaw-velocity sign flip when the
heading wraps past 180 degrees (HumanML3D issue #156; ``fix_yaw_wrap=True`` avoids it). Everything is
computed in float64; features are returned as float32 like the dataset files.

Rotation convention (HumanML3D's chain IK/FK): ``local_quats[..., 0, :]`` is the root (heading)
rotation; along every kinematic chain, starting again from the root rotation at the chain's first joint,
the accumulated rotation is multiplied by ``local_quats[..., j, :]`` and applied to joint j's offset from
its parent. The arm chains start at joint 9 from the root rotation, so joint 9's rotation does not
reach the arms.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .checks import check_features, check_joints
from .quaternion import (
    IDENTITY,
    cont6d_to_matrix,
    matrix_to_cont6d,
    qbetween,
    qinv,
    qmul,
    qrot,
    quat_to_matrix,
)
from .skeleton import (
    BONE_LENGTHS,
    CONTACTS,
    FACE_JOINTS,
    FEATURE_DIM,
    FOOT_CONTACT_THRESHOLD,
    FOOT_JOINTS,
    HEADING_SMOOTH_SIGMA,
    JOINT_NAMES,
    KINEMATIC_CHAINS,
    LEG_RATIO_JOINTS,
    LOCAL_VEL,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
    RIC,
    ROOT_LIN_VEL,
    ROOT_ROT_VEL,
    ROOT_Y,
    ROT6D,
    TARGET_OFFSETS,
)

UP = np.array([0.0, 1.0, 0.0])
FORWARD = np.array([0.0, 0.0, 1.0])  # the direction every clip faces at frame 0
_XZ = np.array([1.0, 0.0, 1.0])  # keeps the ground-plane components of a position
_SMOOTH_TRUNCATE = 4.0  # Gaussian radius in sigmas (scipy's default, what HumanML3D uses)
_MIN_LENGTH = 1e-8  # shorter bones or left-right vectors have no direction


def _unit(vectors: np.ndarray, what: str) -> np.ndarray:
    """Normalise the last axis; raise ValueError where a vector has no direction."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    short = norm[..., 0] < _MIN_LENGTH
    if short.any():
        where = np.argwhere(short)[0].tolist()
        raise ValueError(
            f"{what} has (near) zero length at index {where}: joints coincide; "
            "check that the joints are 22 SMPL body joints in HumanML3D order"
        )
    return vectors / norm


def _forward(joints: np.ndarray, hip_sign: float) -> np.ndarray:
    """Unnormalised facing direction ``up x unit(across)`` from hips and shoulders, shape (..., 3).

    ``across = hip_sign * (right hip - left hip) + (right shoulder - left shoulder)``; HumanML3D uses
    ``hip_sign=1`` to face the clip and ``hip_sign=-1`` (its unpacking quirk) for the IK heading.
    """
    r_hip, l_hip, r_shoulder, l_shoulder = FACE_JOINTS
    across = hip_sign * (joints[..., r_hip, :] - joints[..., l_hip, :])
    across = across + joints[..., r_shoulder, :] - joints[..., l_shoulder, :]
    return np.cross(UP, _unit(across, "the hips + shoulders left-right vector"))


def _heading(joints: np.ndarray, smooth: bool) -> np.ndarray:
    """Root quaternions (..., T, 4) that turn each frame's facing direction onto +Z; frame 0 is identity."""
    forward = _forward(joints, hip_sign=-1.0)
    if smooth:
        smoothing = {"mode": "nearest", "truncate": _SMOOTH_TRUNCATE}
        forward = gaussian_filter1d(forward, HEADING_SMOOTH_SIGMA, axis=-2, **smoothing)
    heading = qbetween(_unit(forward, "the facing direction"), FORWARD)
    heading[..., 0, :] = IDENTITY
    return heading


def inverse_kinematics(joints, smooth_forward: bool = True) -> np.ndarray:
    """HumanML3D's swing IK: joints (..., T, 22, 3) -> local quaternions (..., T, 22, 4), w first.

    The root rotation turns the (optionally Gaussian-smoothed) facing direction onto +Z and is the
    identity at frame 0. Joint j's rotation is the shortest arc taking its raw offset direction to the
    observed bone direction, relative to the rotation accumulated along its chain (bone twist is lost).
    """
    joints = check_joints(joints, min_frames=1)
    heading = _heading(joints, smooth_forward)
    quats = np.empty(joints.shape[:-1] + (4,))
    quats[..., 0, :] = heading
    for chain in KINEMATIC_CHAINS:
        accumulated = heading
        for parent, child in zip(chain[:-1], chain[1:], strict=True):
            bone = joints[..., child, :] - joints[..., parent, :]
            swing = qbetween(RAW_OFFSETS[child], _unit(bone, f"bone {JOINT_NAMES[child]}"))
            quats[..., child, :] = qmul(qinv(accumulated), swing)
            accumulated = swing
    return quats


def _chain_fk(local_rotations: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """FK from local rotation matrices (..., 22, 3, 3) and root positions (..., 3) -> (..., 22, 3)."""
    joints = np.empty(local_rotations.shape[:-2] + (3,))
    joints[..., 0, :] = root_pos
    for chain in KINEMATIC_CHAINS:
        rotation = local_rotations[..., 0, :, :]
        for parent, child in zip(chain[:-1], chain[1:], strict=True):
            rotation = rotation @ local_rotations[..., child, :, :]
            joints[..., child, :] = joints[..., parent, :] + rotation @ offsets[child]
    return joints


def forward_kinematics(local_quats, root_pos, offsets=TARGET_OFFSETS) -> np.ndarray:
    """HumanML3D's chain FK: local quaternions (..., 22, 4), root positions (..., 3) -> joints (..., 22, 3).

    Quaternions are normalised first; ``offsets`` (22, 3) are the bones in the rest pose (default: the
    uniform target skeleton).
    """
    quats = np.asarray(local_quats, dtype=np.float64)
    root_pos = np.asarray(root_pos, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    if quats.ndim < 2 or quats.shape[-2:] != (NUM_JOINTS, 4):
        raise ValueError(f"local_quats must have shape (..., {NUM_JOINTS}, 4), got {quats.shape}")
    if root_pos.shape != quats.shape[:-2] + (3,):
        raise ValueError(f"root_pos must have shape {quats.shape[:-2] + (3,)}, got {root_pos.shape}")
    if offsets.shape != (NUM_JOINTS, 3):
        raise ValueError(f"offsets must have shape ({NUM_JOINTS}, 3), got {offsets.shape}")
    quats = _unit(quats, "a local quaternion")
    return _chain_fk(quat_to_matrix(quats), root_pos, offsets)


def _check_clip(joints, min_frames: int) -> np.ndarray:
    joints = check_joints(joints, min_frames=min_frames)
    if joints.ndim != 3:
        expected = f"one clip of shape (T, {NUM_JOINTS}, 3)"
        raise ValueError(f"joints must be {expected}, got {joints.shape}; pass clips one at a time")
    return joints


def uniform_skeleton(joints) -> np.ndarray:
    """Retarget a clip (T, 22, 3) to the target skeleton: bone directions kept, lengths = BONE_LENGTHS.

    Swing IK to the raw offset directions, then FK with TARGET_OFFSETS from the root position scaled by
    the frame-0 ratio of the right-leg bones (target / source).
    """
    joints = _check_clip(joints, min_frames=1)
    local = inverse_kinematics(joints, smooth_forward=False)
    leg = list(LEG_RATIO_JOINTS)
    source_leg = np.linalg.norm(joints[0, leg] - joints[0, [PARENTS[j] for j in leg]], axis=-1).sum()
    return forward_kinematics(local, joints[:, 0] * (BONE_LENGTHS[leg].sum() / source_leg))


def canonicalize(joints) -> np.ndarray:
    """The joints HumanML3D features describe: uniform skeleton, lowest joint on the floor (y = 0),
    frame-0 root x, z at the origin, whole clip turned about Y so that frame 0 faces +Z. (T, 22, 3).
    """
    positions = uniform_skeleton(joints)
    positions[..., 1] -= positions[..., 1].min()
    positions -= positions[0, 0] * _XZ
    facing = _unit(_forward(positions[0], hip_sign=1.0), "the frame-0 facing direction")
    return qrot(qbetween(facing, FORWARD), positions)


def joints_to_features(joints, fix_yaw_wrap: bool = False) -> np.ndarray:
    """Joint positions (T, 22, 3), Y up, metres -> HumanML3D features (T-1, 263), float32.

    ``fix_yaw_wrap=False`` reproduces HumanML3D exactly, including the sign flip of the yaw velocity
    when the heading crosses 180 degrees; ``True`` takes the short way round so recovery does not drift.
    """
    positions = canonicalize(_check_clip(joints, min_frames=2))
    local = inverse_kinematics(positions, smooth_forward=True)
    heading = local[:, 0]  # removes each frame's smoothed yaw
    root = positions[:, 0]
    frames = len(positions) - 1

    yaw_step = qmul(heading[1:], qinv(heading[:-1]))
    if fix_yaw_wrap:
        yaw_step = np.where(yaw_step[:, :1] < 0, -yaw_step, yaw_step)
    features = np.empty((frames, FEATURE_DIM))
    features[:, ROOT_ROT_VEL] = np.arcsin(np.clip(yaw_step[:, 2:3], -1.0, 1.0))  # half the yaw change
    features[:, ROOT_LIN_VEL] = qrot(heading[1:], root[1:] - root[:-1])[:, [0, 2]]
    features[:, ROOT_Y] = root[:-1, 1:2]
    ric = qrot(heading[:, None], positions - (root * _XZ)[:, None])
    features[:, RIC] = ric[:-1, 1:].reshape(frames, -1)
    features[:, ROT6D] = matrix_to_cont6d(quat_to_matrix(local[:-1, 1:])).reshape(frames, -1)
    local_vel = qrot(heading[:-1, None], positions[1:] - positions[:-1])
    features[:, LOCAL_VEL] = local_vel.reshape(frames, -1)
    foot_step = positions[1:, list(FOOT_JOINTS)] - positions[:-1, list(FOOT_JOINTS)]
    features[:, CONTACTS] = np.sum(foot_step**2, axis=-1) < FOOT_CONTACT_THRESHOLD
    return features.astype(np.float32)


def _recover_root(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading quaternions (..., T, 4) and root positions (..., T, 3) from the root features."""
    yaw_vel = features[..., ROOT_ROT_VEL.start]
    half_angle = np.zeros_like(yaw_vel)
    half_angle[..., 1:] = np.cumsum(yaw_vel[..., :-1], axis=-1)
    zero = np.zeros_like(half_angle)
    heading = np.stack([np.cos(half_angle), zero, np.sin(half_angle), zero], axis=-1)

    step = np.zeros(features.shape[:-1] + (3,))
    step[..., 1:, [0, 2]] = features[..., :-1, ROOT_LIN_VEL]
    root = np.cumsum(qrot(qinv(heading), step), axis=-2)
    root[..., 1] = features[..., ROOT_Y.start]
    return heading, root


def features_to_joints(features, from_rotations: bool = False) -> np.ndarray:
    """HumanML3D features (..., T, 263) -> joint positions (..., T, 22, 3).

    ``from_rotations=False`` is HumanML3D's ``recover_from_ric`` (root + ric positions);
    ``True`` is ``recover_from_rot`` (root heading + 6D rotations through FK with TARGET_OFFSETS).
    The result has the features' float precision (float32 in, float32 out).
    """
    dtype = np.result_type(np.asarray(features).dtype, np.float32)
    features = check_features(features)
    heading, root = _recover_root(features)
    if from_rotations:
        local = cont6d_to_matrix(features[..., ROT6D].reshape(features.shape[:-1] + (NUM_JOINTS - 1, 6)))
        rotations = np.concatenate([quat_to_matrix(heading)[..., None, :, :], local], axis=-3)
        joints = _chain_fk(rotations, root, TARGET_OFFSETS)
    else:
        ric = features[..., RIC].reshape(features.shape[:-1] + (NUM_JOINTS - 1, 3))
        body = qrot(qinv(heading)[..., None, :], ric) + (root * _XZ)[..., None, :]
        joints = np.concatenate([root[..., None, :], body], axis=-2)
    return joints.astype(dtype)
