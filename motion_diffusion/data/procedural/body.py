"""Kinematic body of the procedural generator: a frame-by-frame :class:`Plan` and its joints.

A :class:`PlanBuilder` grows a plan segment by segment (per-frame pelvis, posture angles and foot contacts);
:func:`realise` turns it into HumanML3D joints. Every bone is placed as ``parent + length * unit direction``
with ``skeleton.BONE_LENGTHS``, so bone lengths are exact by construction; the rest pose's directions come
from the mean SMPL template (:data:`SMPL_TEMPLATE_OFFSETS`: hips below the pelvis, collars rising), not from
HumanML3D's raw IK offsets. Legs are solved by analytic two-bone IK towards ankle targets from the planned
contacts: a planted foot keeps its toe joint fixed (a heel rise pivots on the toe) or, while its toe is
lifted, its heel point fixed. ``realise`` also moves the pelvis so that the centre of mass is over the support
where the plan asks for static balance and elsewhere shifts it horizontally (a dynamic filter, least squares)
so that the zero-moment point of the body's segment masses stays on the soles on the floor and the centre of
mass keeps its horizontal speed in flight. It raises heels or lowers the pelvis where a stance leg would be
over-stretched (never in ballistic flight), and couples arm swing and pelvis rotation to the feet during
locomotion.

Frames: Y up, a character with yaw 0 faces +Z and its left is +X; positive yaw turns left (counter-clockwise
seen from above).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solveh_banded
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from ...motion.skeleton import (
    BONE_LENGTHS,
    FPS,
    JOINT_INDEX,
    JOINT_NAMES,
    MIRROR_PERMUTATION,
    NUM_JOINTS,
    PARENTS,
)

GRAVITY = 9.81  # m/s^2
UP = np.array([0.0, 1.0, 0.0])
DOWN = -UP
LEFT, RIGHT = 0, 1
SIDES = (LEFT, RIGHT)
SIDE_SIGN = np.array([1.0, -1.0])  # +X is the character's left

_LEG_PARTS, _ARM_PARTS = ("hip", "knee", "ankle", "foot"), ("collar", "shoulder", "elbow", "wrist")
LEG_JOINTS = tuple(tuple(JOINT_INDEX[f"{s}_{part}"] for part in _LEG_PARTS) for s in ("left", "right"))
ARM_JOINTS = tuple(tuple(JOINT_INDEX[f"{s}_{part}"] for part in _ARM_PARTS) for s in ("left", "right"))
SPINE_JOINTS = tuple(JOINT_INDEX[name] for name in ("spine1", "spine2", "spine3"))
NECK, HEAD = JOINT_INDEX["neck"], JOINT_INDEX["head"]
THIGH = np.array([BONE_LENGTHS[leg[1]] for leg in LEG_JOINTS])
SHANK = np.array([BONE_LENGTHS[leg[2]] for leg in LEG_JOINTS])
FOOT = np.array([BONE_LENGTHS[leg[3]] for leg in LEG_JOINTS])
LEG_LENGTH = THIGH + SHANK  # hip to ankle, straight

# Rest skeleton. HumanML3D's raw offsets are only the IK rest directions (hips straight sideways, collars
# sideways, ...); in real data every bone points where a real SMPL body's bone points. So the rest pose here
# takes its bone DIRECTIONS from the neutral mean-shape SMPL template and its LENGTHS from the skeleton.
# Offsets below are child minus parent joint positions of that template (m; Y up, +X the body's left, +Z
# forward), read from SMPLSim's smpl_sim/data/assets/mjcf/smpl_humanoid.xml (ZhengyiLuo/SMPLSim), as
# tabulated in the project's reference notes (physics.md, section 1.3). Only bones whose rest direction the
# generator uses are listed: knees, ankles, elbows and wrists are placed by leg IK and arm angles (the
# template's arms are in a T-pose), and a foot's ankle->toe row only sets the downward pitch of a flat foot
# (its yaw is planned).
SMPL_TEMPLATE_OFFSETS = {
    "left_hip": (0.0695, -0.0914, -0.0068),
    "right_hip": (-0.0677, -0.0905, -0.0043),
    "spine1": (-0.0025, 0.1090, -0.0267),
    "spine2": (0.0055, 0.1352, 0.0011),
    "spine3": (0.0015, 0.0529, 0.0254),
    "left_foot": (0.0264, -0.0558, 0.1193),
    "right_foot": (-0.0254, -0.0481, 0.1233),
    "neck": (-0.0028, 0.2139, -0.0429),
    "left_collar": (0.0788, 0.1217, -0.0341),
    "right_collar": (-0.0818, 0.1188, -0.0386),
    "head": (0.0052, 0.0650, 0.0513),
    "left_shoulder": (0.0910, 0.0305, -0.0089),
    "right_shoulder": (-0.0960, 0.0326, -0.0091),
}


def _rest_directions(offsets: dict) -> dict[int, np.ndarray]:
    """Unit bone directions by joint index, made mirror-symmetric: each bone is averaged with its left/right
    counterpart reflected in x (a central bone with its own reflection), so mirrored clips stay clean."""
    reflect = np.array([-1.0, 1.0, 1.0])
    out = {}
    for name, offset in offsets.items():
        j = JOINT_INDEX[name]
        mean = 0.5 * (np.asarray(offset) + reflect * np.asarray(offsets[JOINT_NAMES[MIRROR_PERMUTATION[j]]]))
        out[j] = mean / np.linalg.norm(mean)
    return out


REST_DIRECTIONS = _rest_directions(SMPL_TEMPLATE_OFFSETS)  # joint index -> unit direction from its parent
REST_OFFSETS = {j: BONE_LENGTHS[j] * d for j, d in REST_DIRECTIONS.items()}  # joint index -> offset (m)
HIP_OFFSETS = np.array([REST_OFFSETS[leg[0]] for leg in LEG_JOINTS])  # in the pelvis frame, below the pelvis

# Foot geometry. The floor is at the height of the toe joint ("foot" joint) of a flat foot, as in HumanML3D.
FLAT_PITCH = np.array([np.arcsin(-REST_DIRECTIONS[leg[3]][1]) for leg in LEG_JOINTS])  # ankle->toe, down
FOOT_DROP = FOOT * np.sin(FLAT_PITCH)  # height of the ankle joint above the toe joint, foot flat, per side
HEEL_BACK = 0.03  # the heel's floor contact point lies this far behind the ankle (m)
HEEL_TO_TOE = FOOT * np.cos(FLAT_PITCH) + HEEL_BACK  # horizontal heel point -> toe joint, flat foot
TOE_AHEAD = HEEL_TO_TOE / 2  # toe joint ahead of the sole's centre
MAX_HEEL_RISE = np.radians(70)  # steepest heel rise on the toe joint

# Leg extension limits (hip-ankle distance over the straight leg length): knees stay slightly bent.
MAX_REACH = 0.998
STAND_REACH = 0.993  # standing, for the shorter leg
# Pelvis height of a relaxed standing pose: flat feet, legs at STAND_REACH, the hips below the pelvis.
STAND_HEIGHT = float(np.min(FOOT_DROP + STAND_REACH * LEG_LENGTH - HIP_OFFSETS[:, 1]))
BALANCE_ITERATIONS = 4
DROP_WINDOW, DROP_SIGMA = 5, 1.5  # frames: smoothing of the pelvis lowering (a max filter, then a Gaussian)

# Standing pose: feet apart and turned out a little, relaxed arms.
STANCE_WIDTH = 0.2  # distance between the sole centres (m)
TOE_OUT = 0.08  # each foot turned outwards (rad)
NEUTRAL_ARM = (0.0, 0.1, 0.0, 0.15)  # flexion, abduction, twist, elbow flexion (rad)

SPINE_SHARES = (0.3, 0.35, 0.35)  # how spine flexion, lean and twist are spread over spine1..spine3

# Segment masses (kg) of the mean SMPL humanoid, each at the midpoint of two joints (for the centre of mass).
_MASSES = (
    ("pelvis", "pelvis", 16.2), ("left_hip", "left_knee", 7.4), ("right_hip", "right_knee", 7.3),
    ("left_knee", "left_ankle", 3.6), ("right_knee", "right_ankle", 3.6), ("left_ankle", "left_foot", 0.8),
    ("right_ankle", "right_foot", 0.9), ("spine1", "spine2", 4.4), ("spine2", "spine3", 3.9),
    ("spine3", "neck", 9.6), ("neck", "head", 0.6), ("head", "head", 4.3),
    ("left_collar", "left_shoulder", 1.1), ("right_collar", "right_shoulder", 1.1),
    ("left_shoulder", "left_elbow", 1.9), ("right_shoulder", "right_elbow", 2.0),
    ("left_elbow", "left_wrist", 1.1), ("right_elbow", "right_wrist", 1.1),
    ("left_wrist", "left_wrist", 0.5), ("right_wrist", "right_wrist", 0.5),
)  # fmt: skip
_MASS_A = np.array([JOINT_INDEX[a] for a, _, _ in _MASSES])
_MASS_B = np.array([JOINT_INDEX[b] for _, b, _ in _MASSES])
_MASS_W = np.array([m for _, _, m in _MASSES]) / sum(m for _, _, m in _MASSES)

# ------------------------------------------------------------------------------------------------- maths


def smoothstep(s):
    """Minimum-jerk ramp from 0 to 1 for ``s`` in [0, 1] (clipped outside), zero velocity at both ends."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


def ease(n: int, keys) -> np.ndarray:
    """Values at frames ``0..n-1`` easing (minimum jerk) between keyframes ``[(frame, value), ...]``."""
    frames = np.array([k[0] for k in keys], dtype=np.float64)
    values = np.array([np.asarray(k[1], dtype=np.float64) for k in keys])
    if len(keys) == 1:
        return np.broadcast_to(values[0], (n,) + values.shape[1:]).copy()
    f = np.arange(n)
    i = np.clip(np.searchsorted(frames, f, side="right") - 1, 0, len(frames) - 2)
    w = smoothstep((f - frames[i]) / np.maximum(frames[i + 1] - frames[i], 1e-9))
    w = w.reshape(w.shape + (1,) * (values.ndim - 1))
    return values[i] * (1 - w) + values[i + 1] * w


def hermite(n: int, knots) -> np.ndarray:
    """Piecewise cubic Hermite through ``[(frame, value, slope per second), ...]`` at frames ``0..n-1``.

    A cubic reproduces a parabola exactly, so knots on a ballistic arc give an exact free fall between them.
    """
    frames = np.array([k[0] for k in knots], dtype=np.float64)
    values = np.array([np.asarray(k[1], dtype=np.float64) for k in knots])
    slopes = np.array([np.asarray(k[2], dtype=np.float64) for k in knots])
    f = np.arange(n)
    i = np.clip(np.searchsorted(frames, f, side="right") - 1, 0, len(frames) - 2)
    span = frames[i + 1] - frames[i]
    shape = (n,) + (1,) * (values.ndim - 1)
    s = np.clip((f - frames[i]) / span, 0.0, 1.0).reshape(shape)
    h = (span / FPS).reshape(shape)
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, 3 * s**2 - 2 * s**3, s**3 - s**2
    return h00 * values[i] + h10 * h * slopes[i] + h01 * values[i + 1] + h11 * h * slopes[i + 1]


def _rot(axis: int, angle) -> np.ndarray:
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def rot_x(angle) -> np.ndarray:
    """Rotation matrices about X (positive tips +Y towards +Z: bending forward)."""
    return _rot(0, angle)


def rot_y(angle) -> np.ndarray:
    """Rotation matrices about Y (positive turns +Z towards +X: turning left)."""
    return _rot(1, angle)


def rot_z(angle) -> np.ndarray:
    """Rotation matrices about Z (positive tips +X towards +Y)."""
    return _rot(2, angle)


def forward(yaw) -> np.ndarray:
    """Horizontal facing direction(s) for yaw angle(s)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    out = np.zeros(yaw.shape + (3,))
    out[..., 0], out[..., 2] = np.sin(yaw), np.cos(yaw)
    return out


def leftward(yaw) -> np.ndarray:
    """Horizontal direction(s) to the character's left for yaw angle(s)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    out = np.zeros(yaw.shape + (3,))
    out[..., 0], out[..., 2] = np.cos(yaw), -np.sin(yaw)
    return out


def _apply(rot: np.ndarray, vec: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", rot, vec)


def pelvis_rotation(yaw, pitch=0.0) -> np.ndarray:
    """Rotation matrices of a pelvis turned by ``yaw`` (left) and tilted forward by ``pitch``."""
    return rot_y(yaw) @ rot_x(pitch)


def hip_position(pelvis, yaw, pitch, side: int) -> np.ndarray:
    """Hip joint(s) of ``side`` for a pelvis at ``pelvis`` turned by ``yaw`` and tilted by ``pitch``."""
    return pelvis + _apply(pelvis_rotation(yaw, pitch), HIP_OFFSETS[side])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def two_bone_ik(root, target, upper: float, lower: float, pole) -> np.ndarray:
    """Middle joint of a two-bone chain from ``root`` to a reachable ``target``, bent towards ``pole``."""
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    axis = d / dist
    cos_a = np.clip((upper**2 + dist**2 - lower**2) / (2.0 * upper * dist), -1.0, 1.0)
    bend = _unit(pole - np.sum(pole * axis, axis=-1, keepdims=True) * axis)
    return root + upper * (cos_a * axis + np.sqrt(1.0 - cos_a**2) * bend)


# --------------------------------------------------------------------------------------------------- feet


def foot_from_toe(toe, yaw, pitch, side: int) -> np.ndarray:
    """Ankle position for a toe joint at ``toe`` and a foot turned by ``yaw`` and heel-raised by ``pitch``."""
    angle = FLAT_PITCH[side] + np.asarray(pitch)
    f = forward(yaw)
    return toe + FOOT[side] * (np.sin(angle)[..., None] * UP - np.cos(angle)[..., None] * f)


def toe_from_ankle(ankle, yaw, pitch, side: int) -> np.ndarray:
    """Toe joint of a foot whose ankle is at ``ankle`` (inverse of :func:`foot_from_toe`)."""
    return ankle - foot_from_toe(np.zeros(3), yaw, pitch, side)


def planted_toe(anchor, yaw, pitch, side: int) -> np.ndarray:
    """Toe joint of a planted foot whose flat toe position is ``anchor`` (y = 0), with ``pitch``.

    ``pitch >= 0`` raises the heel by pivoting on the toe (the toe stays at ``anchor``); ``pitch < 0`` lifts
    the toe by pivoting on the heel's floor point.
    """
    pitch = np.asarray(pitch, dtype=np.float64)
    f = forward(yaw)
    lift = np.maximum(-pitch, 0.0)[..., None]
    heel = anchor - HEEL_TO_TOE[side] * f
    return heel + HEEL_TO_TOE[side] * (np.cos(lift) * f + np.sin(lift) * UP)


def sole_center(toe, yaw, side: int) -> np.ndarray:
    """Centre of the sole (on the floor) of a foot whose toe joint is at ``toe``."""
    centre = toe - TOE_AHEAD[side] * forward(yaw)
    centre[..., 1] = 0.0
    return centre


def xz(v) -> np.ndarray:
    """Horizontal (x, z) components of 3-d vector(s)."""
    return np.asarray(v)[..., [0, 2]]


def xyz(horizontal, y=0.0) -> np.ndarray:
    """3-d point(s) from (x, z) and a height."""
    h = np.asarray(horizontal, dtype=np.float64)
    return np.stack([h[..., 0], np.full(h.shape[:-1], y), h[..., 1]], axis=-1)


# -------------------------------------------------------------------------------------------- plan


@dataclass
class Stance:
    """One floor contact of a foot, planted from frame ``start`` to frame ``end`` (both inclusive).

    ``toe`` is the (x, z) of the toe joint with the foot flat. At touchdown the foot is pitched by
    ``land_pitch`` (< 0: heel first, > 0: toe first) and rolls flat over ``roll_frames``; over the last
    ``rise_frames`` the pitch goes to ``lift_pitch`` (> 0: heel rise on the toe, < 0: toe up on the heel). The
    swing that ends in this stance lifts the toe by a ``swing_height`` bump, or follows ``swing_keys``
    ((frame, toe xyz, yaw, pitch), ...).
    """

    start: int
    end: int
    toe: np.ndarray
    yaw: float
    land_pitch: float = 0.0
    roll_frames: int = 0
    lift_pitch: float = 0.0
    rise_frames: int = 0
    swing_height: float = 0.0
    swing_keys: tuple = ()


@dataclass
class Plan:
    """A clip described frame by frame, to be turned into joints by :func:`realise`.

    Angles in radians. ``yaw``, ``pitch``: pelvis heading (left) and forward tilt. ``spine``: flexion
    (forward), lean (to the left), twist (to the left) summed over the three spine joints; ``head``: pitch
    (down), yaw (left); ``arms``: per side (flexion forward, abduction outward, twist, elbow flexion).
    ``gait``: left and right arm swing (rad per metre of fore-aft foot separation), pelvis and chest rotation
    (rad per metre), applied by ``realise``. ``balance`` in [0, 1] pulls the centre of mass over the support
    point, which takes the share ``support_left`` of the weight on the left foot and the rest on the right.
    ``ballistic`` frames keep their pelvis height untouched (free flight).
    """

    stances: tuple[list[Stance], list[Stance]]
    pelvis_xz: np.ndarray
    pelvis_y: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    spine: np.ndarray
    head: np.ndarray
    arms: np.ndarray
    gait: np.ndarray
    balance: np.ndarray
    support_left: np.ndarray
    ballistic: np.ndarray
    report: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.pelvis_y)


_FIELDS = {
    "pelvis_xz": (2,), "pelvis_y": (), "yaw": (), "pitch": (), "spine": (3,), "head": (2,),
    "arms": (2, 4), "gait": (4,), "balance": (), "support_left": (), "ballistic": (),
}  # fmt: skip


class PlanBuilder:
    """Grows a :class:`Plan` by chunks of per-frame arrays plus foot contacts, from a standing start."""

    def __init__(self, facing: float = 0.0):
        self.n = 0
        self.facing = facing
        self.first_lift: int | None = None
        self._chunks: list[dict] = []
        self.stances: tuple[list[Stance], list[Stance]] = ([], [])
        for side in SIDES:
            yaw = facing + SIDE_SIGN[side] * TOE_OUT
            centre = SIDE_SIGN[side] * STANCE_WIDTH / 2 * leftward(facing)
            self.stances[side].append(Stance(0, 0, xz(centre + TOE_AHEAD[side] * forward(yaw)), yaw))

    def toe(self, side: int) -> np.ndarray:
        """(x, z) of the flat toe of the planted foot ``side``."""
        return self.stances[side][-1].toe

    def foot_yaw(self, side: int) -> float:
        return self.stances[side][-1].yaw

    def sole(self, side: int) -> np.ndarray:
        """(x, z) of the sole centre of the planted foot ``side``."""
        return xz(sole_center(xyz(self.toe(side)), self.foot_yaw(side), side))

    def centre(self) -> np.ndarray:
        """(x, z) midway between the two planted soles."""
        return 0.5 * (self.sole(LEFT) + self.sole(RIGHT))

    def chunk(self, n: int) -> dict:
        """Per-frame arrays for ``n`` new frames of relaxed standing, to edit and then :meth:`commit`."""
        c = {name: np.zeros((n,) + shape) for name, shape in _FIELDS.items()}
        c["pelvis_xz"][:] = self.centre()
        c["pelvis_y"][:] = STAND_HEIGHT
        c["yaw"][:] = self.facing
        c["arms"][:] = NEUTRAL_ARM
        c["balance"][:] = 1.0
        c["support_left"][:] = 0.5
        c["ballistic"] = np.zeros(n, dtype=bool)
        return c

    def step(self, side: int, lift: int, land: int, toe, yaw: float, *, lift_pitch=0.0, rise_frames=0,
             land_pitch=0.0, roll_frames=0, swing_height=0.0, swing_keys=()) -> None:  # fmt: skip
        """Lift foot ``side`` at frame ``lift`` of the next chunk, plant it at ``land`` with its flat toe at
        ``toe`` (x, z); see :class:`Stance` for the other arguments (swing key frames count from the chunk).
        """
        prev = self.stances[side][-1]
        prev.end = self.n + lift
        prev.lift_pitch = lift_pitch
        prev.rise_frames = int(min(rise_frames, prev.end - prev.start))
        keys = tuple((self.n + f, t, y, p) for f, t, y, p in swing_keys)
        new = Stance(self.n + land, self.n + land, np.asarray(toe, dtype=np.float64), float(yaw), land_pitch,
                     int(roll_frames), swing_height=swing_height, swing_keys=keys)  # fmt: skip
        self.stances[side].append(new)
        if self.first_lift is None:
            self.first_lift = self.n + lift

    def commit(self, chunk: dict) -> None:
        """Append a chunk; feet not lifted stay planted through it."""
        n = len(chunk["pelvis_y"])
        for side in SIDES:
            self.stances[side][-1].end = self.n + n - 1
        self._chunks.append(chunk)
        self.n += n

    @staticmethod
    def _copy_stances(stances):  # only the open (last) stance of a foot is ever changed in place
        return tuple(lst[:-1] + [copy.copy(lst[-1])] for lst in stances)

    def snapshot(self):
        """State to :meth:`restore`, e.g. when a segment turns out too long."""
        return self.n, self.facing, self.first_lift, len(self._chunks), self._copy_stances(self.stances)

    def restore(self, state) -> None:
        self.n, self.facing, self.first_lift, count, stances = state
        self.stances = self._copy_stances(stances)
        del self._chunks[count:]

    def build(self) -> Plan:
        arrays = {name: np.concatenate([c[name] for c in self._chunks]) for name in _FIELDS}
        return Plan(stances=self.stances, **arrays)


# ------------------------------------------------------------------------------------------ realisation


@dataclass
class _Feet:
    """Per-frame foot state of one side: flat toe anchor (stance), toe, yaw, pitch, stance mask."""

    anchor: np.ndarray
    toe: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    stance: np.ndarray


def _stance_frames(stances: list[Stance], n: int, side: int) -> _Feet:
    """Per-frame foot state from a foot's stances: planned pitch while planted, interpolated swings."""
    anchor = np.zeros((n, 3))
    yaw = np.zeros(n)
    pitch = np.zeros(n)
    stance = np.zeros(n, dtype=bool)
    for st in stances:
        k = np.arange(st.start, st.end + 1)
        anchor[k] = (st.toe[0], 0.0, st.toe[1])
        yaw[k] = st.yaw
        p = np.zeros(len(k))
        if st.roll_frames > 0:
            p += st.land_pitch * (1.0 - smoothstep((k - st.start) / st.roll_frames))
        if st.rise_frames > 0:
            p += st.lift_pitch * smoothstep((k - (st.end - st.rise_frames)) / st.rise_frames)
        pitch[k] = p
        stance[k] = True
    feet = _Feet(anchor, np.zeros((n, 3)), yaw, pitch, stance)
    _fill_swings(feet, stances, side)
    return feet


def _fill_swings(feet: _Feet, stances: list[Stance], side: int) -> None:
    """Set stance toes from their anchors, then interpolate every swing between two stances."""
    s = feet.stance
    feet.toe[s] = planted_toe(feet.anchor[s], feet.yaw[s], feet.pitch[s], side)
    for prev, nxt in zip(stances[:-1], stances[1:], strict=True):
        a, b = prev.end, nxt.start
        keys = [(a, feet.toe[a], feet.yaw[a], feet.pitch[a])]
        keys += [(f, np.asarray(t, dtype=np.float64), y, p) for f, t, y, p in nxt.swing_keys]
        keys.append((b, feet.toe[b], feet.yaw[b], feet.pitch[b]))
        for f, toe, yaw, pitch in keys[1:-1]:
            feet.toe[f], feet.yaw[f], feet.pitch[f] = toe, yaw, pitch
        for (f0, t0, y0, p0), (f1, t1, y1, p1) in zip(keys[:-1], keys[1:], strict=True):
            k = np.arange(f0 + 1, f1)
            u = (k - f0) / (f1 - f0)
            w = smoothstep(u)[:, None]
            feet.toe[k] = (1 - w) * t0 + w * t1
            feet.yaw[k] = y0 + (y1 - y0) * w[:, 0]
            feet.pitch[k] = p0 + (p1 - p0) * w[:, 0]
        if not nxt.swing_keys and nxt.swing_height > 0:
            k = np.arange(a + 1, b)
            feet.toe[k, 1] += nxt.swing_height * np.sin(np.pi * (k - a) / (b - a))


def _heel_rise_needed(hip, toe, yaw, side: int, reach: float) -> np.ndarray:
    """Smallest heel rise (pitch on the toe) bringing the ankle within ``reach`` of the hip (or 0)."""
    q = hip - toe
    f = forward(yaw)
    a = -np.sum(q * f, axis=-1)
    b = q[:, 1]
    c = (np.sum(q * q, axis=-1) + FOOT[side] ** 2 - reach**2) / (2.0 * FOOT[side])
    radius = np.hypot(a, b)
    best = np.arctan2(b, a)  # angle at which the ankle points straight at the hip
    angle = best - np.arccos(np.clip(c / np.maximum(radius, 1e-9), -1.0, 1.0))
    return np.clip(angle - FLAT_PITCH[side], 0.0, MAX_HEEL_RISE)


def _lowering_needed(hip, ankle, reach: float) -> np.ndarray:
    """How far the hip must drop for the ankle to be within ``reach`` (0 if it already is)."""
    d = hip - ankle
    horizontal = np.hypot(d[:, 0], d[:, 2])
    allowed = np.sqrt(np.maximum(reach**2 - horizontal**2, 0.0))
    return np.maximum(d[:, 1] - allowed, 0.0)


def _arm_directions(flex, abduct, twist, elbow) -> tuple[np.ndarray, np.ndarray]:
    """Upper-arm and forearm directions in the chest frame for the left arm's angle convention."""
    upper_rot = rot_x(-flex) @ rot_z(abduct) @ rot_y(twist)
    upper = _apply(upper_rot, DOWN)
    fore = _apply(upper_rot @ rot_x(-elbow), DOWN)
    return upper, fore


def _upper_body(plan: Plan, yaw: np.ndarray, spine_twist: np.ndarray, arm_flex: np.ndarray) -> np.ndarray:
    """Spine, head and arm joints ``(T, 22, 3)`` relative to the pelvis (legs left at zero)."""
    n = len(yaw)
    joints = np.zeros((n, NUM_JOINTS, 3))
    rot = pelvis_rotation(yaw, plan.pitch)
    flex, lean = plan.spine[:, 0], plan.spine[:, 1]
    for joint, share in zip(SPINE_JOINTS, SPINE_SHARES, strict=True):
        joints[:, joint] = joints[:, PARENTS[joint]] + rot @ REST_OFFSETS[joint]
        rot = rot @ rot_y(spine_twist * share) @ rot_x(flex * share) @ rot_z(-lean * share)
    chest = joints[:, SPINE_JOINTS[-1]]
    joints[:, NECK] = chest + rot @ REST_OFFSETS[NECK]
    head_rot = rot @ rot_y(plan.head[:, 1]) @ rot_x(plan.head[:, 0])
    joints[:, HEAD] = joints[:, NECK] + head_rot @ REST_OFFSETS[HEAD]
    for side, (collar, shoulder, elbow, wrist) in zip(SIDES, ARM_JOINTS, strict=True):
        flip = np.array([SIDE_SIGN[side], 1.0, 1.0])  # the right arm's angles mirror the left's
        joints[:, collar] = chest + rot @ REST_OFFSETS[collar]
        joints[:, shoulder] = joints[:, collar] + rot @ REST_OFFSETS[shoulder]
        angles = plan.arms[:, side]
        upper, fore = _arm_directions(arm_flex[:, side], angles[:, 1], angles[:, 2], angles[:, 3])
        joints[:, elbow] = joints[:, shoulder] + BONE_LENGTHS[elbow] * _apply(rot, upper * flip)
        joints[:, wrist] = joints[:, elbow] + BONE_LENGTHS[wrist] * _apply(rot, fore * flip)
    return joints


def _legs(joints: np.ndarray, yaw, pitch, feet: tuple[_Feet, _Feet], ankles: list) -> np.ndarray:
    """Fill hips, knees, ankles and toes of ``joints`` (pelvis set) by two-bone IK towards the feet.

    An ankle out of reach is pulled in along the leg, its toe with it; returns where that happened, per side.
    """
    pelvis = joints[:, 0]
    pelvis_fwd = forward(yaw)
    clamped = []
    for side, (hip, knee, ankle, toe) in zip(SIDES, LEG_JOINTS, strict=True):
        ft = feet[side]
        hip_pos = hip_position(pelvis, yaw, pitch, side)
        d = ankles[side] - hip_pos
        dist = np.linalg.norm(d, axis=-1, keepdims=True)
        limit = MAX_REACH * LEG_LENGTH[side]
        clamped.append(dist[:, 0] > limit + 1e-9)
        shift = d * (np.minimum(dist, limit) / dist - 1.0)
        # Knees point forward; up for a leg raised forwards (kick), down for a leg reaching far back.
        lift = np.clip(np.sum(d / dist * pelvis_fwd, axis=-1, keepdims=True), -1.0, 1.0)
        pole = (1 - np.abs(lift)) * _unit(pelvis_fwd + forward(ft.yaw)) + lift * UP
        joints[:, hip] = hip_pos
        joints[:, ankle] = hip_pos + d + shift
        joints[:, knee] = two_bone_ik(hip_pos, joints[:, ankle], THIGH[side], SHANK[side], pole)
        joints[:, toe] = ft.toe + shift
    return np.stack(clamped, axis=1)


def _mass_points(joints: np.ndarray) -> np.ndarray:
    """Point masses ``(..., M, 3)`` at the segment midpoints of :data:`_MASSES`."""
    return 0.5 * (joints[..., _MASS_A, :] + joints[..., _MASS_B, :])


def center_of_mass(joints: np.ndarray) -> np.ndarray:
    """Approximate centre of mass ``(..., 3)`` from joints, with the mean SMPL humanoid's segment masses."""
    return np.einsum("...ji,j->...i", _mass_points(joints), _MASS_W)


# Dynamic filter (``_dynamic_shift``): how far joints move with a horizontal pelvis shift when the feet stay where
# they are (all others all the way), and the support polygon the zero-moment point must lie in.
_SHIFT_SHARE = {"hip": 1.0, "knee": 0.5, "ankle": 0.0, "foot": 0.0}
SUPPORT_FRONT = 0.04  # m: the zero-moment point may lie this far ahead of a toe joint ...
SUPPORT_HALF_WIDTH = 0.035  # ... and this far to either side of the foot's axis (a 1-cm margin inside the sole)
PART_PITCH = 0.1  # rad: a foot pitched more than this stands on its toe region (heel up) or its heel (toe up)
PART_LENGTH = 0.04  # m: of the sole the toe region's part behind the toe joint, and the heel region
FILTER_ITERATIONS = 3
FILTER_SHIFT_WEIGHT = 0.1  # least squares: 1 m of pelvis shift costs like 0.1 m of zero-moment-point error
FILTER_PIN_WEIGHT = 100.0  # ... and in frames that must keep their pelvis
FILTER_FLIGHT_WEIGHT = STAND_HEIGHT / GRAVITY  # ... and 1 m/s^2 of centre-of-mass acceleration in flight


# How far each point mass moves with the pelvis (1 = all the way), the feet staying where they are.
_SHIFT_SHARES = np.array(
    [np.mean([_SHIFT_SHARE.get(name.removeprefix("left_").removeprefix("right_"), 1.0) for name in pair[:2]])
     for pair in _MASSES]
)  # fmt: skip


def _masses_in_motion(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point masses ``(T, M, 3)`` and their accelerations (finite differences)."""
    points = _mass_points(joints)
    return points, np.gradient(np.gradient(points, 1 / FPS, axis=0), 1 / FPS, axis=0)


def _zmp_of(points: np.ndarray, acc: np.ndarray) -> np.ndarray:
    load = (acc[..., 1] + GRAVITY) * _MASS_W
    moment = points[..., [0, 2]] * load[..., None] - points[..., 1:2] * acc[..., [0, 2]] * _MASS_W[:, None]
    return moment.sum(axis=1) / load.sum(axis=1)[:, None]


def zero_moment_point(joints: np.ndarray) -> np.ndarray:
    """Zero-moment point ``(T, 2)`` (x, z on the floor) of the point masses, accelerations by finite differences."""
    return _zmp_of(*_masses_in_motion(joints))


def _sole_corners(ft: _Feet, side: int) -> np.ndarray:
    """Corners ``(T, 4, 2)`` of the part of a foot's sole on the floor: the toe region while the heel is up,
    the heel region while the toe is up, else the whole sole (each 1 cm inside its edge)."""
    f = xz(forward(ft.yaw))
    lat = np.stack([f[:, 1], -f[:, 0]], axis=-1)
    toe = xz(ft.toe)
    heel = HEEL_TO_TOE[side] - 0.01  # behind the toe joint
    front = np.where(ft.pitch < -PART_PITCH, heel - PART_LENGTH, -SUPPORT_FRONT)[:, None]
    back = np.where(ft.pitch > PART_PITCH, PART_LENGTH, heel)[:, None]
    ends = (toe - front * f, toe - back * f)
    return np.stack([end + sign * SUPPORT_HALF_WIDTH * lat for end in ends for sign in (1, -1)], axis=1)


def _support_target(point: np.ndarray, feet: tuple[_Feet, _Feet]) -> np.ndarray:
    """The nearest point ``(T, 2)`` to ``point`` in the support polygon (the convex hull of the standing soles);
    NaN where no foot stands."""
    corners = [_sole_corners(feet[s], s) for s in SIDES]
    stance = np.stack([feet[s].stance for s in SIDES], axis=1)
    # A foot in the air contributes the other foot's corners again, so every frame has 8 points.
    pts = np.concatenate([np.where(stance[:, [s]][..., None], corners[s], corners[1 - s]) for s in SIDES], axis=1)
    a, b = pts[:, :, None], pts[:, None, :]  # every ordered pair (i, j): a candidate edge a -> b
    edge = b - a
    rel = pts[:, None, None] - a[:, :, :, None]  # (T, i, j, k, 2)
    cross = edge[..., None, 0] * rel[..., 1] - edge[..., None, 1] * rel[..., 0]
    hull_edge = np.all(cross >= -1e-9, axis=-1)  # every point on the left: an edge of the hull
    q = point[:, None, None] - a
    u = np.clip(np.sum(q * edge, axis=-1) / np.maximum(np.sum(edge * edge, axis=-1), 1e-12), 0.0, 1.0)
    nearest = a + u[..., None] * edge
    dist = np.where(hull_edge, np.linalg.norm(point[:, None, None] - nearest, axis=-1), np.inf)
    side_of = edge[..., 0] * q[..., 1] - edge[..., 1] * q[..., 0]
    inside = np.all(np.where(hull_edge, side_of >= 0, True), axis=(1, 2))
    flat = dist.reshape(len(point), -1).argmin(axis=1)
    target = nearest.reshape(len(point), -1, 2)[np.arange(len(point)), flat]
    target[inside] = point[inside]
    target[~stance.any(axis=1)] = np.nan
    return target


def _banded_least_squares(diagonal: np.ndarray, frames: np.ndarray, coefs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Least-squares ``d (T, 2)`` of the rows ``diagonal[t] * d[t] = 0`` and, for each ``k``,
    ``coefs[k] . d[frames[k] - 1 : frames[k] + 2] = rhs[k]`` (``0 < frames < T - 1``).

    Solved through the banded normal equations: no dense matrix, and no BLAS threads that would fight with other
    processes building clips in parallel.
    """
    normal = np.zeros((3, len(diagonal)))  # upper band: normal[2 - k, j] is row j - k, column j
    normal[2] = diagonal**2
    right = np.zeros((len(diagonal), 2))
    for i in range(3):
        np.add.at(right, frames + i - 1, coefs[:, i, None] * rhs)
        for j in range(i, 3):
            np.add.at(normal[2 - (j - i)], frames + j - 1, coefs[:, i] * coefs[:, j])
    return solveh_banded(normal, right)


def _dynamic_shift(joints: np.ndarray, feet: tuple[_Feet, _Feet], flight: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Horizontal pelvis shift ``(T, 2)`` that moves the zero-moment point into the support polygon and makes
    the centre of mass move at constant horizontal speed in ``flight`` (least squares, linearised in the
    shift). ``held`` frames keep their pelvis (static balance, or a stance leg at full reach)."""
    n = len(joints)
    p, acc = _masses_in_motion(joints)
    share = _SHIFT_SHARES * _MASS_W
    load = (acc[..., 1] + GRAVITY) @ _MASS_W
    gain = ((acc[..., 1] + GRAVITY) @ share) / load  # d(zero-moment point) / d(shift)
    arm = (p[..., 1] @ share) / load * FPS**2  # d(zero-moment point) / d(shift) through the shift's acceleration
    zmp = _zmp_of(p, acc)
    target = _support_target(zmp, feet)
    frames = np.arange(n)
    inside = (frames > 0) & (frames < n - 1)  # frames with a second difference
    loaded = np.flatnonzero(inside & ~np.isnan(target[:, 0]) & ~held)
    weight = np.clip(load[loaded] / GRAVITY, 0.0, None)  # a moment's error, not the point's: light frames count less
    zmp_coefs = weight[:, None] * np.stack([-arm[loaded], gain[loaded] + 2 * arm[loaded], -arm[loaded]], axis=-1)
    airborne = np.flatnonzero(inside & flight & np.roll(flight, 1) & np.roll(flight, -1))
    com_acc = np.einsum("tmi,m->ti", acc[..., [0, 2]], _MASS_W)
    flight_coefs = np.tile(FILTER_FLIGHT_WEIGHT * share.sum() * FPS**2 * np.array([1.0, -2.0, 1.0]), (len(airborne), 1))
    return _banded_least_squares(
        np.where(held, FILTER_PIN_WEIGHT, FILTER_SHIFT_WEIGHT),
        np.concatenate([loaded, airborne]),
        np.concatenate([zmp_coefs, flight_coefs]),
        np.concatenate([weight[:, None] * (target - zmp)[loaded], -FILTER_FLIGHT_WEIGHT * com_acc[airborne]]),
    )


def realise(plan: Plan) -> np.ndarray:
    """Joints ``(T, 22, 3)`` of a plan; ``plan.report["stance_reach_fixes"]`` counts planted feet moved."""
    n = plan.num_frames
    feet = tuple(_stance_frames(plan.stances[side], n, side) for side in SIDES)
    # Gait coupling: arms swing against the legs, the pelvis turns with the forward leg, the chest against it.
    base_fwd = forward(plan.yaw)
    split = np.sum((feet[LEFT].toe - feet[RIGHT].toe) * base_fwd, axis=-1)
    arm_flex = plan.arms[:, :, 0] + plan.gait[:, :2] * np.stack([-split, split], axis=1)
    yaw = plan.yaw - plan.gait[:, 2] * split
    spine_twist = plan.spine[:, 2] + plan.gait[:, 3] * split

    pelvis = np.column_stack([plan.pelvis_xz[:, 0], plan.pelvis_y, plan.pelvis_xz[:, 1]])
    centres = [sole_center(feet[s].toe, feet[s].yaw, s) for s in SIDES]
    support = plan.support_left[:, None] * centres[LEFT] + (1 - plan.support_left[:, None]) * centres[RIGHT]
    upper = _upper_body(plan, yaw, spine_twist, arm_flex)
    ankles = [foot_from_toe(feet[s].toe, feet[s].yaw, feet[s].pitch, s) for s in SIDES]
    for _ in range(BALANCE_ITERATIONS):
        joints = upper + pelvis[:, None]
        _legs(joints, yaw, plan.pitch, feet, ankles)
        com = center_of_mass(joints)
        pelvis[:, [0, 2]] += plan.balance[:, None] * (support[:, [0, 2]] - com[:, [0, 2]])
    # Static balance, and the lift-off and touchdown frames of a flight (stance legs at full reach), keep their
    # pelvis.
    held = (plan.balance >= 1.0) | (plan.ballistic & (feet[LEFT].stance | feet[RIGHT].stance))
    for _ in range(FILTER_ITERATIONS):
        joints = upper + pelvis[:, None]
        _legs(joints, yaw, plan.pitch, feet, ankles)
        pelvis[:, [0, 2]] += _dynamic_shift(joints, feet, plan.ballistic, held)

    # Over-stretched stance legs: a trailing leg raises its heel on the toe, otherwise the pelvis is lowered
    # (never in flight).
    hips = [hip_position(pelvis, yaw, plan.pitch, s) for s in SIDES]
    drop = np.zeros(n)
    for side in SIDES:
        ft = feet[side]
        trailing = np.sum((hips[side] - ft.toe) * forward(ft.yaw), axis=-1) > 0  # hip ahead of the toe
        on_toe = ft.stance & (ft.pitch >= 0) & trailing
        need = _heel_rise_needed(hips[side], ft.toe, ft.yaw, side, MAX_REACH * LEG_LENGTH[side])
        ft.pitch[on_toe] = np.maximum(ft.pitch[on_toe], need[on_toe])
        _fill_swings(ft, plan.stances[side], side)
        ankles[side] = foot_from_toe(ft.toe, ft.yaw, ft.pitch, side)
        need_drop = _lowering_needed(hips[side], ankles[side], MAX_REACH * LEG_LENGTH[side] - 1e-6)
        drop = np.maximum(drop, np.where(ft.stance, need_drop, 0.0))
    smooth_drop = gaussian_filter1d(maximum_filter1d(drop, size=DROP_WINDOW), DROP_SIGMA, mode="nearest")
    drop = np.where(plan.ballistic, 0.0, np.maximum(drop, smooth_drop))
    pelvis[:, 1] -= drop
    joints = upper + pelvis[:, None]
    clamped = _legs(joints, yaw, plan.pitch, feet, ankles)
    stance = np.stack([feet[s].stance for s in SIDES], axis=1)
    plan.report["stance_reach_fixes"] = int(np.sum(clamped & stance))
    return joints
