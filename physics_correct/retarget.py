"""Retargeting: 22 HumanML3D joint positions <-> qpos trajectories of the generated MuJoCo humanoid.

Forward (``retarget``): Y-up joints at the input fps -> Z-up targets (the sole offset added) -> an analytic
swing seed (Kabsch on the pelvis and chest, shortest-arc swings down each chain) -> damped least squares on
the MuJoCo model, warm-started frame to frame, with a pull toward the previous frame (temporal smoothness)
and toward zero twist (twist is unobservable from one child joint); foot joints weigh more than the others.
``fit_branch_offsets`` fits the rigid pelvis and chest shapes to a clip first. ``reference_trajectory``
smooths the result, interpolates it to the control rate and takes velocities and accelerations by finite
differences.

Back (``qpos_to_joints``): the body origins of the 22 joint bodies, mapped to Y-up with the sole offset
removed, are the HumanML3D joints.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation, RotationSpline

from motion_diffusion.motion.checks import check_fps, check_joints
from motion_diffusion.motion.skeleton import FOOT_JOINTS, JOINT_NAMES, NUM_JOINTS, PARENTS

from . import humanoid

MAX_BONE_DEVIATION = 0.5  # a bone longer or shorter than the model's by more than this fraction is rejected,
BONE_NOISE_TOLERANCE = 0.08  # m ... plus this much, so joint jitter on the short spine bones is not "absurd"
IK_ITERATIONS_FIRST = 30  # Gauss-Newton iterations on the first frame (from the analytic seed)
IK_ITERATIONS = 6  # per later frame, warm-started from the previous two
IK_TOLERANCE = 1e-5  # stop when the largest update (rad or m) is below this
IK_DAMPING = 1e-4  # Levenberg-Marquardt damping
IK_SMOOTH = 1e-4  # pull toward the previous frame's pose (per unit of squared radians)
IK_TWIST = 1e-4  # pull of the twist hinges toward zero
IK_FOOT_WEIGHT = 4.0  # feet are placed more exactly than the rest: where they meet the floor matters most
DEFAULT_SMOOTH_SIGMA = 1.0  # frames; Gaussian smoothing of the reference before velocities are taken


def joints_to_mujoco(joints) -> np.ndarray:
    """HumanML3D joints (..., 22, 3), floor at the lowest joint, -> MuJoCo body targets with the floor at the sole."""
    return humanoid.to_mujoco(joints) + np.array([0.0, 0.0, humanoid.SOLE_OFFSET])


def mujoco_to_joints(points) -> np.ndarray:
    """Inverse of ``joints_to_mujoco``."""
    return humanoid.from_mujoco(np.asarray(points) - np.array([0.0, 0.0, humanoid.SOLE_OFFSET]))


def bone_lengths_of(joints) -> np.ndarray:
    """Per-frame bone lengths (T, 22) of joint positions (T, 22, 3); the root's is 0."""
    parents = np.array([max(p, 0) for p in PARENTS])
    return np.linalg.norm(joints - joints[:, parents], axis=-1)


def check_pose(
    joints, model_bone_lengths, max_deviation: float = MAX_BONE_DEVIATION, tolerated_frames: int = 0
) -> np.ndarray:
    """The frames (T,) bool with a bone whose length is off the model's by more than ``max_deviation`` (fraction)
    plus ``BONE_NOISE_TOLERANCE``; raise ``ValueError`` when there are more than ``tolerated_frames`` of them."""
    lengths = bone_lengths_of(joints)[:, 1:]
    reference = np.asarray(model_bone_lengths)[1:]
    ratio = lengths / reference
    bad = np.abs(lengths - reference) > max_deviation * reference + BONE_NOISE_TOLERANCE
    frames = bad.any(axis=1)
    if frames.sum() > tolerated_frames:
        frame, bone = np.argwhere(bad)[0]
        raise ValueError(
            f"absurd pose: bone {JOINT_NAMES[bone + 1]} is {ratio[frame, bone]:.2f}x the skeleton's length at frame "
            f"{frame} ({int(bad.sum())} bad bones in {int(frames.sum())} frames, {tolerated_frames} frames "
            "tolerated); joints must be 22 SMPL joints in metres, Y-up"
        )
    return frames


def model_bone_lengths(model) -> np.ndarray:
    """Bone lengths (22,) of the model's skeleton (its joint bodies' rest offsets); the root's is 0."""
    return np.array([0.0] + [np.linalg.norm(model.body(name).pos) for name in JOINT_NAMES[1:]])


def flat_foot_heights(model) -> np.ndarray:
    """HumanML3D height (m) of each foot joint (``FOOT_JOINTS`` order) when the model stands with flat feet."""
    import mujoco

    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    heights = data.xpos[humanoid.joint_body_ids(model)[list(FOOT_JOINTS)], 2]
    return heights - np.repeat(heights[[1, 3]], 2)  # the toe joints are the lowest joints of a flat foot


def qpos_to_joints(model, qpos) -> np.ndarray:
    """Joint positions (T, 22, 3), HumanML3D frame, of a qpos trajectory (T, nq) by forward kinematics."""
    import mujoco

    qpos = np.atleast_2d(qpos)
    data = mujoco.MjData(model)
    ids = humanoid.joint_body_ids(model)
    out = np.empty((len(qpos), NUM_JOINTS, 3))
    for t, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[t] = data.xpos[ids]
    return mujoco_to_joints(out)


def _model_rest(model):
    """Rest offsets (nbody, 3) and hinge layout of the model, read from the compiled model itself."""
    names = humanoid.BODY_NAMES
    offsets = {name: model.body(name).pos.copy() for name in names}
    hinges = {}
    for name in names[1:]:
        jnt = model.body(name).jntadr[0]
        order = "".join("xyz"[int(np.argmax(model.jnt_axis[jnt + k]))] for k in range(3))
        hinges[name] = (order.upper(), model.jnt_qposadr[jnt], model.jnt_range[jnt : jnt + 3])
    return offsets, hinges


def _kabsch(rest: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) that best map rest vectors (K, 3) onto observed vectors (T, K, 3)."""
    cov = np.einsum("ki,tkj->tij", rest, observed)
    u, _, vt = np.linalg.svd(cov)
    det = np.sign(np.linalg.det(np.einsum("tij,tjk->tik", u, vt)))
    fix = np.ones((len(det), 3))
    fix[:, 2] = det
    return np.einsum("tji,tj,tkj->tik", vt, fix, u)


def _shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) taking unit vectors a (T, 3) onto unit vectors b (T, 3) by the shortest arc."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.einsum("ti,ti->t", a, b)
    angle = np.arctan2(sin, cos)
    # Antiparallel vectors: any axis perpendicular to a.
    fallback = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis = np.where(sin[:, None] > 1e-9, axis, fallback)
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return Rotation.from_rotvec(axis * angle[:, None]).as_matrix()


def analytic_seed(model, targets: np.ndarray) -> np.ndarray:
    """Swing-only IK seed: qpos (T, nq) from MuJoCo-frame targets (T, 22, 3), with hinge angles clipped."""
    offsets, hinges = _model_rest(model)
    index = {name: j for j, name in enumerate(JOINT_NAMES)}
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    world = {}
    qpos = np.tile(model.qpos0, (len(targets), 1))
    for name in humanoid.BODY_NAMES:
        parent = humanoid.body_parent(name)
        children = [c for c in humanoid.BODY_NAMES if humanoid.body_parent(c) == name and c in index]
        parent_rot = np.tile(np.eye(3), (len(targets), 1, 1)) if parent is None else world[parent]
        if len(children) > 1:
            rest = np.stack([offsets[c] for c in children])
            observed = np.stack([targets[:, index[c]] - targets[:, index[name]] for c in children], axis=1)
            world[name] = _kabsch(rest, observed)
        elif len(children) == 1:
            child = children[0]
            rest_dir = unit(np.einsum("tij,j->ti", parent_rot, offsets[child]))
            obs_dir = unit(targets[:, index[child]] - targets[:, index[name]])
            world[name] = np.einsum("tij,tjk->tik", _shortest_arc(rest_dir, obs_dir), parent_rot)
        else:
            world[name] = parent_rot
        if parent is None:
            qpos[:, :3] = targets[:, 0]
            qpos[:, 3:7] = Rotation.from_matrix(world[name]).as_quat(scalar_first=True)
        else:
            order, adr, ranges = hinges[name]
            local = Rotation.from_matrix(np.einsum("tji,tjk->tik", parent_rot, world[name]))
            angles = np.clip(local.as_euler(order), ranges[:, 0], ranges[:, 1])
            qpos[:, adr : adr + 3] = angles
            # Children are placed by the clipped angles, so later swings start from where this body really is.
            world[name] = np.einsum("tij,tjk->tik", parent_rot, Rotation.from_euler(order, angles).as_matrix())
    return qpos


@dataclass(frozen=True)
class IKResult:
    """IK output: ``qpos`` (T, nq) at the input fps and the per-frame mean joint error ``error`` (T,) in metres."""

    qpos: np.ndarray
    error: np.ndarray


def solve_ik(model, targets: np.ndarray, seed: np.ndarray | None = None) -> IKResult:
    """Damped least squares IK of MuJoCo-frame body targets (T, 22, 3) on ``model``; see the module docstring."""
    import mujoco

    nv, num = model.nv, len(targets)
    data = mujoco.MjData(model)
    ids = humanoid.joint_body_ids(model)
    hinge_qpos = np.arange(7, model.nq)
    low, high = model.jnt_range[1:, 0], model.jnt_range[1:, 1]
    seed = analytic_seed(model, targets[:1]) if seed is None else seed
    jac = np.zeros((3 * NUM_JOINTS, nv))
    weights = np.ones((NUM_JOINTS, 3))
    weights[list(FOOT_JOINTS)] = IK_FOOT_WEIGHT
    weights = weights.ravel()
    reg = np.full(nv, IK_SMOOTH)
    reg[:6] = 0.0  # the root is observed directly
    twist = np.zeros(nv)
    twist[humanoid.twist_dofs(model)] = IK_TWIST
    qpos = np.empty((num, model.nq))
    error = np.empty(num)
    q = seed[0].copy()
    previous = None
    dq = np.zeros(nv)
    for t in range(num):
        if t >= 2:  # constant-velocity prediction from the last two frames
            mujoco.mj_differentiatePos(model, dq, 1.0, qpos[t - 2], qpos[t - 1])
            q = qpos[t - 1].copy()
            mujoco.mj_integratePos(model, q, dq, 1.0)
            q[hinge_qpos] = np.clip(q[hinge_qpos], low, high)
        diff = np.zeros(nv)
        for _ in range(IK_ITERATIONS_FIRST if t == 0 else IK_ITERATIONS):
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            for k, body in enumerate(ids):
                mujoco.mj_jacBody(model, data, jac[3 * k : 3 * k + 3], None, body)
            residual = (data.xpos[ids] - targets[t]).ravel() * weights
            if previous is not None:
                mujoco.mj_differentiatePos(model, diff, 1.0, previous, q)
            hinges = q[7:]
            grad = (jac * weights[:, None]).T @ residual + reg * diff
            grad[6:] += twist[6:] * hinges
            hessian = (jac * weights[:, None] ** 2).T @ jac
            hessian[np.diag_indices(nv)] += reg + twist + IK_DAMPING
            step = -np.linalg.solve(hessian, grad)
            mujoco.mj_integratePos(model, q, step, 1.0)
            q[hinge_qpos] = np.clip(q[hinge_qpos], low, high)
            if np.max(np.abs(step)) < IK_TOLERANCE:
                break
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        error[t] = np.mean(np.linalg.norm(data.xpos[ids] - targets[t], axis=-1))
        qpos[t] = q
        previous = q.copy()
    return IKResult(qpos=qpos, error=error)


TOE_BODIES = ("left_foot", "right_foot")


def level_toes(model, qpos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Set the toe hinges so each toe body lies level (flat on the floor, heading with its foot), blended in by
    ``weights`` (T, 2) in [0, 1] (left, right; 1 = toe planted); returns a new qpos (T, nq).

    The toe bodies carry no HumanML3D joint, so IK leaves them in line with the foot. Then a heel rise rolls the
    whole foot over the toe capsule and the toe joint slides forward; with the toes level the foot hinges at
    the toe joint, which stays where it is, as in the data.
    """
    import mujoco

    _, hinges = _model_rest(model)
    data = mujoco.MjData(model)
    out = qpos.copy()
    frames = np.flatnonzero(np.any(weights > 0, axis=1))
    feet = [model.body_parentid[model.body(toe).id] for toe in TOE_BODIES]
    rotations = np.empty((len(frames), 2, 3, 3))  # world rotation of each foot (ankle body)
    for i, t in enumerate(frames):
        data.qpos[:] = qpos[t]
        mujoco.mj_kinematics(model, data)
        rotations[i] = data.xmat[feet].reshape(2, 3, 3)
    for side, toe in enumerate(TOE_BODIES):
        order, adr, ranges = hinges[toe]
        foot = rotations[:, side]
        heading = np.arctan2(-foot[:, 0, 1], foot[:, 1, 1])  # the model faces -y
        level = np.einsum("tji,tjk->tik", foot, Rotation.from_euler("z", heading[:, None]).as_matrix())
        angles = np.clip(Rotation.from_matrix(level).as_euler(order), ranges[:, 0], ranges[:, 1])
        out[frames, adr : adr + 3] += weights[frames, side, None] * (angles - qpos[frames, adr : adr + 3])
    return out


def fit_branch_offsets(model, joints) -> dict[str, np.ndarray]:
    """Rest offsets of the children of the branching bodies (pelvis, spine3) that best fit a clip.

    The pelvis with the hips and spine1, and spine3 with the neck and collars, are rigid in the model. Their
    shape differs between data sources (HumanML3D keeps SMPL's bone directions, hips 8 cm below the pelvis;
    a generator may put the hips straight sideways), so the shape is fitted to the clip: a generalised
    Procrustes mean of the child offsets over all frames, each bone at the model's length, turned onto the
    model's rest shape so the body's frame keeps its meaning. Returns {child body name: offset (3,)}.
    """
    targets = joints_to_mujoco(joints)
    index = {name: j for j, name in enumerate(JOINT_NAMES)}
    fitted = {}
    for parent in ("pelvis", "spine3"):
        children = [c for c in JOINT_NAMES if humanoid.body_parent(c) == parent]
        rest = np.stack([model.body(c).pos for c in children])
        lengths = np.linalg.norm(rest, axis=1, keepdims=True)
        observed = np.stack([targets[:, index[c]] - targets[:, index[parent]] for c in children], axis=1)
        mean = rest
        for _ in range(3):
            rotations = _kabsch(mean, observed)
            mean = np.einsum("tji,tkj->ki", rotations, observed) / len(observed)
            mean = mean / np.linalg.norm(mean, axis=1, keepdims=True) * lengths
        mean = np.einsum("ij,kj->ki", _kabsch(mean, rest[None])[0], mean)
        fitted.update(zip(children, mean, strict=True))
    return fitted


def with_offsets(model, offsets: dict[str, np.ndarray]):
    """A copy of ``model`` with the given body rest offsets (for ``fit_branch_offsets``)."""
    model = copy.deepcopy(model)
    for name, offset in offsets.items():
        model.body(name).pos[:] = offset
    return model


def retarget(joints, model=None, max_bone_deviation: float = MAX_BONE_DEVIATION) -> IKResult:
    """Retarget HumanML3D joints (T, 22, 3), Y-up, to a qpos trajectory (T, nq) of ``model`` (default humanoid).

    Raises ``ValueError`` on NaN/Inf, wrong shapes or absurd bone lengths.
    """
    joints = check_joints(joints, min_frames=2)
    if joints.ndim != 3:
        raise ValueError(f"retarget takes one clip (T, 22, 3), got {joints.shape}")
    model = humanoid.load_humanoid() if model is None else model
    check_pose(joints, model_bone_lengths(model), max_bone_deviation)
    return solve_ik(model, joints_to_mujoco(joints))


@dataclass(frozen=True)
class Reference:
    """A reference trajectory at the control rate: ``qpos`` (N, nq), ``qvel`` and ``qacc`` (N, nv), ``rate`` (Hz)."""

    qpos: np.ndarray
    qvel: np.ndarray
    qacc: np.ndarray
    rate: float

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.qpos)) / self.rate


def _smooth_quaternions(quat: np.ndarray, sigma: float) -> np.ndarray:
    quat = quat.copy()
    for t in range(1, len(quat)):  # same hemisphere as the previous frame
        if np.dot(quat[t], quat[t - 1]) < 0:
            quat[t] = -quat[t]
    if sigma > 0:
        quat = gaussian_filter1d(quat, sigma, axis=0, mode="nearest")
    return quat / np.linalg.norm(quat, axis=-1, keepdims=True)


def reference_trajectory(qpos, fps: float, rate: float, smooth_sigma: float = DEFAULT_SMOOTH_SIGMA) -> Reference:
    """Smooth a qpos trajectory (T, nq) at ``fps`` (Gaussian, ``smooth_sigma`` frames), interpolate it to
    ``rate`` Hz (cubic splines; a rotation spline for the root) and take velocities and accelerations by
    central finite differences (the root's angular velocity in its local frame, as MuJoCo's free joint)."""
    fps, rate = check_fps(fps), check_fps(rate)
    qpos = np.asarray(qpos, dtype=np.float64)
    if qpos.ndim != 2 or len(qpos) < 2:
        raise ValueError(f"qpos must have shape (T >= 2, nq), got {qpos.shape}")
    smooth = qpos.copy()
    if smooth_sigma > 0:
        smooth[:, :3] = gaussian_filter1d(qpos[:, :3], smooth_sigma, axis=0, mode="nearest")
        smooth[:, 7:] = gaussian_filter1d(qpos[:, 7:], smooth_sigma, axis=0, mode="nearest")
    quat = _smooth_quaternions(qpos[:, 3:7], smooth_sigma)
    times = np.arange(len(qpos)) / fps
    num = int(np.floor(times[-1] * rate + 1e-9)) + 1
    dense_t = np.arange(num) / rate
    dense = np.empty((num, qpos.shape[1]))
    spline = CubicSpline(times, np.concatenate([smooth[:, :3], smooth[:, 7:]], axis=1), axis=0)
    values = spline(dense_t)
    dense[:, :3], dense[:, 7:] = values[:, :3], values[:, 3:]
    rotations = RotationSpline(times, Rotation.from_quat(quat, scalar_first=True))(dense_t)
    dense[:, 3:7] = rotations.as_quat(scalar_first=True)
    dt = 1.0 / rate
    qvel = np.empty((num, qpos.shape[1] - 1))
    qvel[:, :3] = np.gradient(dense[:, :3], dt, axis=0)
    qvel[:, 6:] = np.gradient(dense[:, 7:], dt, axis=0)
    # Local angular velocity: half the rotation from the previous to the next sample (central difference).
    ahead = np.concatenate([rotations[1:].as_quat(), rotations[-1:].as_quat()])
    behind = np.concatenate([rotations[:1].as_quat(), rotations[:-1].as_quat()])
    span = np.full(num, 2 * dt)
    span[[0, -1]] = dt
    qvel[:, 3:6] = (Rotation.from_quat(behind).inv() * Rotation.from_quat(ahead)).as_rotvec() / span[:, None]
    qacc = np.gradient(qvel, dt, axis=0)
    return Reference(qpos=dense, qvel=qvel, qacc=qacc, rate=rate)
