"""Generate the MuJoCo humanoid (MJCF) from the HumanML3D skeleton.

The humanoid has 24 SMPL bodies (the 22 HumanML3D joints plus two hands), each with its origin at its joint,
so the ``xpos`` of the 22 joint bodies are directly comparable with HumanML3D joint positions. Bone lengths
come from ``motion_diffusion.motion.skeleton.BONE_LENGTHS`` (or a user's SMPL shape); the rest directions,
capsule radii and masses come from the mean neutral SMPL body (SMPLSim's table in the physics notes), because
the HumanML3D raw offsets are unit axes whose rest pose (hips straight sideways, arms hanging from the
collars) does not match the rigid pelvis and chest triangles of real data.

Each non-root body has three hinges. The hinge along the bone (its twist) is placed in the middle of the
three, so the gimbal lock sits at a twist of +-90 degrees, which the joint ranges keep away from. Position
actuators carry the PD gains (kv = kp / 10, the legs' kp / 20), so PD runs inside MuJoCo with the
``implicitfast`` integrator.
Six more position actuators on a pelvis site, measured against two mocap bodies that follow the reference,
form the bounded root assist; because they are actuators, their damping is implicit.

Every body touches the floor and nothing else. The capsules are coarse and generated motions swing a foot past
the other leg closer than the capsules allow: with leg-leg contacts a swing foot caught on the stance shin and
lagged its reference by 10-20 cm (and the contacts cost a third of the simulation time).

Coordinates: HumanML3D is Y-up (x = the character's left, z = forward), MuJoCo is Z-up; ``to_mujoco`` and
``from_mujoco`` are the one place that converts. HumanML3D puts the floor at the lowest joint; here the floor
is at the sole, ``SOLE_OFFSET`` below the toe joint of a flat foot, so a joint's MuJoCo height is its
HumanML3D height plus ``SOLE_OFFSET``.

Regenerate the stored model with ``python -m physics_correct.humanoid --out assets/humanoid.xml``.
"""

from __future__ import annotations

import argparse
import functools
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion_diffusion.motion.skeleton import ASSETS_DIR, BONE_LENGTHS, JOINT_NAMES, NUM_JOINTS, PARENTS

HUMANOID_XML = ASSETS_DIR / "humanoid.xml"

SOLE_OFFSET = 0.03  # m, toe joint above the sole of a flat foot (= radius of the ball-of-foot capsule)
DEFAULT_TIMESTEP = 1.0 / 240.0  # s; implicitfast is stable with the PD gains up to about 1/200 s
DEFAULT_MASS = 72.0  # kg, total body mass
GRAVITY = 9.81  # m/s^2
FLOOR_FRICTION = 1.0
ARMATURE = 0.01  # kg m^2 on every hinge ...
# ... but the ankles and toes: heavier rotors there keep a loaded foot from rocking on its contacts (output foot
# skate on four walks of the embedded dataset 3.9 -> 2.9 mm, on a jog 7.6 -> 5.0 mm).
FOOT_ARMATURE = 0.1  # kg m^2
FOOT_KINDS = ("ankle", "foot")
KV_OVER_KP = 0.1  # PD damping ratio kv = kp / 10 (PHC, UHC)
# Contact time constant in timesteps: 2 is the stiffest MuJoCo simulates stably (its "refsafe" limit). Stiffer
# contacts keep a loaded foot from rocking on the floor: going from 0.015 s (the floor's 0.01 s mixed with the
# bodies' default 0.02 s) to 2 timesteps took output foot skate on three walks of the embedded dataset from
# 5.6 to 4.0 mm.
CONTACT_TIMESTEPS = 2.0
CONTACT_DAMPRATIO = 1.0
# Foot changes measured together (added output Phys-Err on the jogs / runs / walks of seeds 0-2 of the generator;
# 4.2 / 5.0 / 2.2 mm with one toe capsule, toe kp 500 and pyramidal cones; 3.2 / 3.6 / 1.8 mm with all three
# changes below, each measured by leaving it out):
# - elliptic friction cones, frictional constraints 10x harder than normal ones (impratio): a loaded foot creeps less in
#   MuJoCo's soft contacts (pyramidal: 3.4 / 4.2 / 2.1; elliptic with impratio 1: 3.4 / 4.0 / 1.9). MJX has them.
IMPRATIO = 10.0
# - toe (metatarsophalangeal) stiffness, N m/rad: a human MTP joint resists about 20-60 N m/rad in push-off;
#   with 500, like the other small joints, the foot pivots over the toe tip as the heel rises and the toe joint
#   slides forward (3.4 / 3.7 / 1.8).
# - a second toe capsule under the toe joint (``_body_geoms``; alone, with kp 500 and pyramidal cones: 4.0 / 4.4 /
#   2.2).
TOE_KP = 50.0
# Leg gains (the hip, knee and ankle kp in ``_HINGES``, kv = kp / 20): softer than PHC's 800 and 80. With PHC's
# gains the legs landed a run like struts: on the evidence run of ``scripts/physics_table.py`` the touchdowns
# pushed up to 6.3 kN (9 body weights) into the floor and each cut the body's speed by about 0.6 m/s, which the
# capped assist could not give back, so the runner lagged its reference by up to 26 cm and its stance feet slipped
# when the balance layer pushed to catch up. The ankle stays stiffer than the body's toppling stiffness about it
# (m g h, about 670 N m/rad): with the assist off, an ankle at 400 let a standing clip topple and one at 800 let
# it drift. Clean clips of generator seeds 0-9, added Phys-Err of runs / jogs / jumps / walks / kicks, the runs'
# joint error, and the mean joint error of a standing clip held 8 s without assist:
# - PHC's 800 / 800 / 800, kv = kp / 10: 2.91 / 2.40 / 4.80 / 1.75 / 0.88 mm, 52 mm; 18 mm;
# - 400 / 400 / 400, kv = kp / 10: 1.83 / 1.48 / 1.09 / 1.39 / 0.83 mm, 40 mm; topples;
# - 400 / 400 / 400, kv = kp / 20: 1.73 / 1.37 / 0.69 / 1.33 / 0.99 mm, 30 mm; topples;
# - 400 / 600 / 1000, kv = kp / 20 (these): 2.01 / 1.60 / 1.53 / 1.35 / 0.87 mm, 39 mm; 18 mm.
LEG_KINDS = ("hip", "knee", "ankle")
LEG_KV_OVER_KP = 0.05

# Root assist defaults: position gains on the pelvis pose and caps. The MJCF caps each axis; the controller
# shares each cap between the three axes at every step so that it bounds the magnitude (``law.assist_limits``).
ASSIST_KP_FORCE = 4000.0  # N/m
ASSIST_KP_TORQUE = 800.0  # N m/rad
ASSIST_KV_RATIO = 0.1  # s, kv = kp * ratio, as for the joints above the legs
ASSIST_FORCE_CAP = 0.3  # fraction of body weight
ASSIST_TORQUE_CAP = 100.0  # N m
ASSIST_ACTUATORS = ("assist_x", "assist_y", "assist_z", "assist_rx", "assist_ry", "assist_rz")

HAND_NAMES = ("left_hand", "right_hand")

# One row per body, depth-first (the MuJoCo body order): name, SMPL-template offset from the parent joint
# (Y-up, m), capsule/sphere radius (m), mass (kg). Mean neutral SMPL body (physics notes, table 1.3).
_BODIES = (
    ("pelvis", (-0.0018, -0.2233, 0.0282), 0.080, 16.22),
    ("left_hip", (0.0695, -0.0914, -0.0068), 0.0615, 7.47),
    ("left_knee", (0.0343, -0.3752, -0.0045), 0.0541, 3.55),
    ("left_ankle", (-0.0136, -0.3980, -0.0437), 0.030, 0.68),
    ("left_foot", (0.0264, -0.0558, 0.1193), 0.020, 0.16),
    ("right_hip", (-0.0677, -0.0905, -0.0043), 0.0606, 7.34),
    ("right_knee", (-0.0383, -0.3826, -0.0089), 0.0541, 3.55),
    ("right_ankle", (0.0158, -0.3984, -0.0423), 0.030, 0.69),
    ("right_foot", (-0.0254, -0.0481, 0.1233), 0.020, 0.17),
    ("spine1", (-0.0025, 0.1090, -0.0267), 0.0769, 4.40),
    ("spine2", (0.0055, 0.1352, 0.0011), 0.0755, 3.89),
    ("spine3", (0.0015, 0.0529, 0.0254), 0.1002, 9.60),
    ("neck", (-0.0028, 0.2139, -0.0429), 0.0436, 0.64),
    ("head", (0.0052, 0.0650, 0.0513), 0.0950, 4.33),
    ("left_collar", (0.0788, 0.1217, -0.0341), 0.0521, 1.09),
    ("left_shoulder", (0.0910, 0.0305, -0.0089), 0.0517, 1.90),
    ("left_elbow", (0.2596, -0.0128, -0.0275), 0.0405, 1.05),
    ("left_wrist", (0.2492, 0.0090, -0.0012), 0.0318, 0.30),
    ("left_hand", (0.0840, -0.0082, -0.0149), 0.0250, 0.16),
    ("right_collar", (-0.0818, 0.1188, -0.0386), 0.0511, 1.06),
    ("right_shoulder", (-0.0960, 0.0326, -0.0091), 0.0531, 1.98),
    ("right_elbow", (-0.2537, -0.0133, -0.0214), 0.0408, 1.09),
    ("right_wrist", (-0.2553, 0.0078, -0.0056), 0.0326, 0.32),
    ("right_hand", (-0.0846, -0.0061, -0.0103), 0.0250, 0.16),
)
# Hinges per body kind (the name without its side): axis order in the body frame with the twist (along the
# bone) in the middle, kp (N m/rad; PHC's gains but the legs'), torque limit (N m), ranges (rad, same order; the
# rest pose is SMPL's: legs down, arms out sideways). Ranges that differ by side are given for the left body and
# mirrored for the right one (``_MIRRORED``).
_HINGES = {
    "hip": ("xzy", 400, 500, ((-2.6, 0.8), (-1.0, 1.0), (-1.2, 1.2))),
    "knee": ("xzy", 600, 500, ((-0.1, 2.7), (-0.3, 0.3), (-0.3, 0.3))),
    "ankle": ("xyz", 1000, 300, ((-0.9, 0.9), (-0.6, 0.6), (-0.6, 0.6))),
    "foot": ("xyz", TOE_KP, 200, ((-0.9, 0.9), (-0.3, 0.3), (-0.3, 0.3))),
    "spine": ("xzy", 1000, 500, ((-0.9, 0.9), (-0.8, 0.8), (-0.6, 0.6))),
    "neck": ("xzy", 500, 250, ((-1.0, 1.0), (-1.2, 1.2), (-0.8, 0.8))),
    "collar": ("yxz", 500, 250, ((-0.6, 0.6), (-0.6, 0.6), (-0.6, 0.6))),
    "shoulder": ("yxz", 500, 250, ((-2.8, 2.8), (-1.3, 1.3), (-2.3, 2.3))),
    "elbow": ("yxz", 500, 150, ((-0.3, 0.3), (-1.3, 1.3), (-2.7, 0.1))),
    "wrist": ("yxz", 300, 100, ((-1.0, 1.0), (-1.0, 1.0), (-1.2, 1.2))),
    "hand": ("yxz", 300, 50, ((-0.4, 0.4), (-0.4, 0.4), (-0.4, 0.4))),
}
_KIND = {"head": "neck", "spine1": "spine", "spine2": "spine", "spine3": "spine"}
_MIRRORED = {"elbow": 2}  # hinge index whose range flips sign on the right side (elbow flexion)


def _hinges(name: str) -> tuple[str, float, float, float, tuple[tuple[float, float], ...]]:
    """(axis order, kp, kv, torque limit, ranges) of a non-root body."""
    kind = _KIND.get(name, name.split("_", 1)[-1])
    order, kp, limit, ranges = _HINGES[kind]
    kv = kp * (LEG_KV_OVER_KP if kind in LEG_KINDS else KV_OVER_KP)
    if name.startswith("right_") and kind in _MIRRORED:
        k = _MIRRORED[kind]
        low, high = ranges[k]
        ranges = ranges[:k] + ((-high, -low),) + ranges[k + 1 :]
    return order, kp, kv, limit, ranges


BODY_NAMES: tuple[str, ...] = tuple(row[0] for row in _BODIES)
_ROW = {row[0]: row for row in _BODIES}
_PARENT_OF_HAND = {"left_hand": "left_wrist", "right_hand": "right_wrist"}
# Foot geometry in the ankle frame, relative to the horizontal foot direction (m, before scaling).
_HEEL_BACK, _HEEL_RADIUS, _HEEL_HALF_WIDTH = 0.045, 0.030, 0.020
_BALL_HALF_WIDTH = 0.035
_TOE_FORWARD, _TOE_HALF_WIDTH = 0.030, 0.030
_HEAD_CENTRE = (0.0, 0.08, 0.02)  # skull centre from the head joint, Y-up (up, forward)
_CAPSULE_TRIM = 0.15  # fraction of the bone left free at each end of a limb capsule


def to_mujoco(points) -> np.ndarray:
    """Map HumanML3D Y-up coordinates (..., 3) to MuJoCo Z-up: (x, y, z) -> (x, -z, y)."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def from_mujoco(points) -> np.ndarray:
    """Map MuJoCo Z-up coordinates (..., 3) back to HumanML3D Y-up: (x, y, z) -> (x, z, -y)."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def body_parent(name: str) -> str | None:
    """The parent body of ``name`` (None for the pelvis)."""
    if name in _PARENT_OF_HAND:
        return _PARENT_OF_HAND[name]
    parent = PARENTS[JOINT_NAMES.index(name)]
    return None if parent < 0 else JOINT_NAMES[parent]


def check_bone_lengths(bone_lengths) -> np.ndarray:
    """Return bone lengths ``(22,)`` as floats after checking they are finite and positive (the root's is 0)."""
    lengths = np.asarray(bone_lengths, dtype=np.float64)
    if lengths.shape != (NUM_JOINTS,):
        raise ValueError(f"bone_lengths must have shape ({NUM_JOINTS},), got {lengths.shape}")
    if not np.all(np.isfinite(lengths)) or np.any(lengths[1:] <= 0):
        raise ValueError("bone_lengths must be finite and positive for joints 1..21")
    return lengths


def rest_offsets(bone_lengths=BONE_LENGTHS) -> dict[str, np.ndarray]:
    """Rest-pose offset of each body from its parent, MuJoCo Z-up (m): SMPL directions at the given lengths.

    Hands, which have no HumanML3D joint, keep the SMPL hand length scaled like the forearm.
    """
    lengths = check_bone_lengths(bone_lengths)
    offsets = {}
    for name, smpl_offset, *_ in _BODIES:
        smpl = np.asarray(smpl_offset)
        if name == "pelvis":
            offsets[name] = np.zeros(3)
            continue
        if name in HAND_NAMES:
            wrist = _PARENT_OF_HAND[name]
            length = np.linalg.norm(smpl) * lengths[JOINT_NAMES.index(wrist)] / np.linalg.norm(_ROW[wrist][1])
        else:
            length = lengths[JOINT_NAMES.index(name)]
        offsets[name] = to_mujoco(smpl / np.linalg.norm(smpl) * length)
    return offsets


def _body_scale(bone_lengths: np.ndarray) -> float:
    """Ratio of the skeleton's height chain (left leg + spine to head) to the SMPL template's."""
    names = ("left_knee", "left_ankle", "spine1", "spine2", "spine3", "neck", "head")
    chain = [JOINT_NAMES.index(n) for n in names]
    smpl = sum(np.linalg.norm(_ROW[JOINT_NAMES[j]][1]) for j in chain)
    return float(sum(bone_lengths[j] for j in chain) / smpl)


def _fmt(values) -> str:
    return " ".join(f"{v:.6g}" for v in np.atleast_1d(values))


@dataclass
class _Geom:
    kind: str  # "capsule" or "sphere"
    radius: float
    points: tuple[np.ndarray, ...]  # capsule end points or the sphere centre, body frame

    def volume(self) -> float:
        sphere = 4.0 / 3.0 * math.pi * self.radius**3
        if self.kind == "sphere":
            return sphere
        return sphere + math.pi * self.radius**2 * float(np.linalg.norm(self.points[1] - self.points[0]))

    def lowest(self) -> float:
        return min(float(p[2]) for p in self.points) - self.radius


def _foot_frame(toe_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal forward and lateral unit vectors of a foot from its ankle-to-toe offset (MuJoCo frame)."""
    forward = np.array([toe_offset[0], toe_offset[1], 0.0])
    forward /= np.linalg.norm(forward)
    lateral = np.cross(forward, [0.0, 0.0, 1.0])
    return forward, lateral


def _lateral_capsule(centre, lateral, half_width, radius) -> _Geom:
    return _Geom("capsule", radius, (centre - lateral * half_width, centre + lateral * half_width))


def _body_geoms(name: str, offsets: dict[str, np.ndarray], scale: float) -> list[_Geom]:
    """Collision/inertia geoms of one body in its own frame (rest pose, world-aligned axes)."""
    radius = _ROW[name][2] * scale
    children = [child for child in BODY_NAMES if body_parent(child) == name]
    if name == "pelvis":
        left, right = offsets["left_hip"], offsets["right_hip"]
        return [_Geom("capsule", radius, (0.6 * left, 0.6 * right))]
    if name in ("spine1", "spine2", "spine3"):
        centre = 0.5 * np.mean([offsets[c] for c in children], axis=0)
        return [_lateral_capsule(centre, np.array([1.0, 0.0, 0.0]), 0.5 * radius, radius)]
    if name == "head":
        return [_Geom("sphere", radius, (to_mujoco(_HEAD_CENTRE) * scale,))]
    if name in HAND_NAMES:
        direction = offsets[name] / np.linalg.norm(offsets[name])
        return [_Geom("capsule", radius, (radius * direction, 2.5 * radius * direction))]
    if name.endswith("_ankle"):
        toe = offsets[name.replace("ankle", "foot")]
        forward, lateral = _foot_frame(toe)
        sole = toe[2] - SOLE_OFFSET
        heel_r = _HEEL_RADIUS * scale
        heel = -forward * _HEEL_BACK * scale + np.array([0.0, 0.0, sole + heel_r])
        ball = toe - forward * SOLE_OFFSET * 0.5
        ball[2] = sole + SOLE_OFFSET
        link_r = 0.8 * min(heel_r, SOLE_OFFSET)
        return [
            _lateral_capsule(heel, lateral, _HEEL_HALF_WIDTH * scale, heel_r),
            _lateral_capsule(ball, lateral, _BALL_HALF_WIDTH * scale, SOLE_OFFSET),
            _Geom("capsule", link_r, (heel + [0, 0, heel_r - link_r], ball + [0, 0, SOLE_OFFSET - link_r])),
        ]
    if name.endswith("_foot"):
        # Two capsules, one at the toe tip and one under the toe joint: the toes lie flat on the floor instead
        # of rocking on a single round contact while the foot turns over the toe joint.
        forward, lateral = _foot_frame(offsets[name])
        tip = forward * _TOE_FORWARD * scale + np.array([0.0, 0.0, radius - SOLE_OFFSET])
        under = np.array([0.0, 0.0, radius - SOLE_OFFSET])
        return [
            _lateral_capsule(tip, lateral, _TOE_HALF_WIDTH * scale, radius),
            _lateral_capsule(under, lateral, _TOE_HALF_WIDTH * scale, radius),
        ]
    end = np.mean([offsets[c] for c in children], axis=0)
    return [_Geom("capsule", radius, (_CAPSULE_TRIM * end, (1.0 - _CAPSULE_TRIM) * end))]


def build_humanoid_xml(
    bone_lengths=BONE_LENGTHS,
    timestep: float = DEFAULT_TIMESTEP,
    mass: float = DEFAULT_MASS,
    friction: float = FLOOR_FRICTION,
    assist_force_cap: float = ASSIST_FORCE_CAP,
    assist_torque_cap: float = ASSIST_TORQUE_CAP,
) -> str:
    """Return the humanoid's MJCF as a string.

    ``bone_lengths`` (22,) per joint to its parent (HumanML3D order, m), ``timestep`` (s), total ``mass`` (kg),
    floor ``friction``, root-assist caps: ``assist_force_cap`` (fraction of body weight per axis) and
    ``assist_torque_cap`` (N m per axis). The caps can also be changed on a loaded model (see
    ``set_assist_caps``).
    """
    lengths = check_bone_lengths(bone_lengths)
    if not (0.0 < timestep <= 0.01):
        raise ValueError(f"timestep must be in (0, 0.01] s for the PD gains to stay stable, got {timestep}")
    if not mass > 0:
        raise ValueError(f"mass must be positive, got {mass}")
    offsets = rest_offsets(lengths)
    scale = _body_scale(lengths)
    template_mass = sum(row[3] for row in _BODIES)

    geoms = {name: _body_geoms(name, offsets, scale) for name in BODY_NAMES}
    world = {"pelvis": np.zeros(3)}
    for name in BODY_NAMES[1:]:
        world[name] = world[body_parent(name)] + offsets[name]
    lowest = min(world[n][2] + g.lowest() for n in BODY_NAMES for g in geoms[n])
    root_height = -lowest

    root = ET.Element("mujoco", model="smpl_humanoid")
    ET.SubElement(root, "compiler", angle="radian", autolimits="true")
    ET.SubElement(
        root, "option", timestep=f"{timestep:.8g}", integrator="implicitfast", cone="elliptic", impratio=_fmt(IMPRATIO)
    )
    size_comment = ET.Comment(" generated by physics_correct.humanoid: do not edit by hand ")
    root.insert(0, size_comment)
    default = ET.SubElement(root, "default")
    ET.SubElement(default, "joint", type="hinge", armature=_fmt(ARMATURE), damping="0", limited="true")
    solref = _fmt([CONTACT_TIMESTEPS * timestep, CONTACT_DAMPRATIO])
    ET.SubElement(default, "geom", condim="3", friction=f"{friction:.6g} 0.005 0.0001", solref=solref)
    ET.SubElement(default, "position", ctrllimited="false", forcelimited="true")

    worldbody = ET.SubElement(root, "worldbody")
    ET.SubElement(
        worldbody,
        "geom",
        name="floor",
        type="plane",
        size="0 0 0.05",
        contype="1",
        conaffinity="0",
        rgba="0.8 0.8 0.8 1",
    )
    ET.SubElement(worldbody, "light", pos="0 0 4", dir="0 0 -1", directional="true")
    for target, has_quat in (("assist_pos", False), ("assist_rot", True)):
        mocap = ET.SubElement(worldbody, "body", name=target, mocap="true", pos=f"0 0 {root_height:.6g}")
        ET.SubElement(mocap, "site", name=f"{target}_ref", size="0.01", rgba="1 0 0 0" if has_quat else "0 0 1 0")

    elements = {}
    actuators = []
    for name in BODY_NAMES:
        parent = body_parent(name)
        pos = np.array([0.0, 0.0, root_height]) if parent is None else offsets[name]
        body = ET.SubElement(elements.get(parent, worldbody), "body", name=name, pos=_fmt(pos))
        elements[name] = body
        row = _ROW[name]
        if parent is None:
            ET.SubElement(body, "freejoint", name="root")
            ET.SubElement(body, "site", name="pelvis_site", size="0.01")
        else:
            order, kp, kv, limit, ranges = _hinges(name)
            for axis_name, (low, high) in zip(order, ranges, strict=True):
                axis = {"x": "1 0 0", "y": "0 1 0", "z": "0 0 1"}[axis_name]
                joint = f"{name}_{axis_name}"
                attrs = dict(name=joint, axis=axis, range=f"{low:.6g} {high:.6g}")
                if name.split("_", 1)[-1] in FOOT_KINDS:
                    attrs["armature"] = _fmt(FOOT_ARMATURE)
                ET.SubElement(body, "joint", attrs)
                actuators.append(
                    dict(name=joint, joint=joint, kp=_fmt(kp), kv=_fmt(kv), forcerange=f"{-limit} {limit}")
                )
        body_mass = row[3] * mass / template_mass
        volume = sum(g.volume() for g in geoms[name])
        for k, geom in enumerate(geoms[name]):
            attrs = dict(
                name=f"{name}_{k}",
                type=geom.kind,
                mass=f"{body_mass * geom.volume() / volume:.6g}",
                contype="0",
                conaffinity="1",
            )
            if geom.kind == "sphere":
                attrs.update(size=_fmt(geom.radius), pos=_fmt(geom.points[0]))
            else:
                attrs.update(size=_fmt(geom.radius), fromto=_fmt(np.concatenate(geom.points)))
            ET.SubElement(body, "geom", attrs)

    actuator = ET.SubElement(root, "actuator")
    for attrs in actuators:
        ET.SubElement(actuator, "position", attrs)
    force_cap = assist_force_cap * mass * GRAVITY
    for k, act in enumerate(ASSIST_ACTUATORS):
        rotational = k >= 3
        gear = np.zeros(6)
        gear[k] = 1.0
        kp = ASSIST_KP_TORQUE if rotational else ASSIST_KP_FORCE
        cap = assist_torque_cap if rotational else force_cap
        ET.SubElement(
            actuator,
            "position",
            name=act,
            site="pelvis_site",
            refsite="assist_rot_ref" if rotational else "assist_pos_ref",
            gear=_fmt(gear),
            kp=_fmt(kp),
            kv=_fmt(kp * ASSIST_KV_RATIO),
            forcerange=f"{-cap:.6g} {cap:.6g}",
        )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def set_assist_caps(model, force_cap: float = ASSIST_FORCE_CAP, torque_cap: float = ASSIST_TORQUE_CAP) -> None:
    """Set the root-assist caps on a loaded model: force as a fraction of body weight, torque in N m (per axis).

    0 for both makes the simulation fully physical.
    """
    if not (force_cap >= 0 and torque_cap >= 0):
        raise ValueError(f"assist caps must be >= 0, got force {force_cap}, torque {torque_cap}")
    weight = body_weight(model)
    for k, name in enumerate(ASSIST_ACTUATORS):
        cap = torque_cap if k >= 3 else force_cap * weight
        model.actuator_forcerange[model.actuator(name).id] = (-cap, cap)


def total_mass(model) -> float:
    """Mass of the humanoid (kg): all bodies except the world and the mocap targets."""
    return float(model.body_subtreemass[model.body("pelvis").id])


def body_weight(model) -> float:
    """Weight of the humanoid (N) under the model's gravity."""
    return total_mass(model) * -float(model.opt.gravity[2])


def joint_body_ids(model) -> np.ndarray:
    """MuJoCo body id of each of the 22 HumanML3D joints, in HumanML3D order."""
    return np.array([model.body(name).id for name in JOINT_NAMES])


def hinge_actuator_ids(model) -> np.ndarray:
    """Ids of the 69 hinge actuators, in hinge (qpos[7:]) order."""
    return np.array([model.actuator(model.joint(j).name).id for j in range(1, model.njnt)])


def assist_actuator_ids(model) -> np.ndarray:
    """Ids of the six root-assist actuators (force x, y, z, torque x, y, z)."""
    return np.array([model.actuator(name).id for name in ASSIST_ACTUATORS])


def twist_dofs(model) -> np.ndarray:
    """qvel indices of the twist hinges (the middle hinge of each body, along its bone)."""
    return np.array([model.joint(f"{name}_{_hinges(name)[0][1]}").dofadr[0] for name in BODY_NAMES[1:]])


def load_humanoid(**kwargs):
    """Load the humanoid as a ``mujoco.MjModel``; with no arguments the default model is built once and cached."""
    import mujoco

    if kwargs:
        return mujoco.MjModel.from_xml_string(build_humanoid_xml(**kwargs))
    return mujoco.MjModel.from_xml_string(_default_xml())


@functools.cache
def _default_xml() -> str:
    return build_humanoid_xml()


def smpl_bone_lengths(model_path, betas, gender: str = "neutral") -> np.ndarray:
    """Bone lengths (22,) of an SMPL body shape, for ``build_humanoid_xml(bone_lengths=...)``.

    Needs the ``smpl`` extra (``smplx``) and the user's SMPL model files under ``model_path``.
    """
    try:
        import smplx
        import torch
    except ImportError:
        raise ValueError("SMPL shapes need the 'smpl' extra: pip install 'physics-corrected-motion[smpl]'") from None
    path = Path(model_path)
    if not path.exists():
        raise ValueError(f"SMPL model files not found at {path}; download them from smpl.is.tue.mpg.de")
    betas = torch.as_tensor(np.atleast_2d(np.asarray(betas, dtype=np.float32)))
    body = smplx.create(str(path), model_type="smpl", gender=gender, num_betas=betas.shape[1])
    with torch.no_grad():
        joints = body(betas=betas).joints[0, :NUM_JOINTS].numpy().astype(np.float64)
    lengths = np.zeros(NUM_JOINTS)
    for j in range(1, NUM_JOINTS):
        lengths[j] = np.linalg.norm(joints[j] - joints[PARENTS[j]])
    return lengths


def main(argv=None) -> None:
    """Command line: write the generated humanoid XML (default ``assets/humanoid.xml``)."""
    parser = argparse.ArgumentParser(description="Generate the MuJoCo humanoid from the HumanML3D skeleton.")
    parser.add_argument("--out", type=Path, default=HUMANOID_XML, help="output XML path")
    parser.add_argument("--timestep", type=float, default=DEFAULT_TIMESTEP, help="physics timestep (s)")
    parser.add_argument("--mass", type=float, default=DEFAULT_MASS, help="total body mass (kg)")
    args = parser.parse_args(argv)
    xml = build_humanoid_xml(timestep=args.timestep, mass=args.mass)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text(xml)
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
