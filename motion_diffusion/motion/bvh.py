"""BVH import and export for 22-joint motions (numpy + scipy only).

``load_bvh`` reads any BVH file (any channel order, 3- or 6-channel joints, End Sites), computes the global
joint positions by forward kinematics and picks the 22 HumanML3D joints through a joint-name map.
``save_bvh`` writes a skeleton that follows ``skeleton.PARENTS`` and recovers per-frame joint rotations
from the positions by inverse kinematics, so that reading the file back reproduces the joints.

BVH conventions used here: a joint's rotation channels, in the order they are listed, compose into its
local rotation (``Zrotation Xrotation Yrotation`` means ``Rz @ Rx @ Ry``); that rotation turns the OFFSETs
of the joint's children; position channels give the joint's translation from its parent and replace its
OFFSET (axes without a channel keep the OFFSET value).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .checks import check_fps, check_joints
from .files import write_text
from .skeleton import BONE_LENGTHS, FPS, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, RAW_OFFSETS

# The common 22-joint mocap (Mixamo-style) names in HumanML3D joint order; accepted aliases follow the first.
MIXAMO_NAMES: tuple[tuple[str, ...], ...] = (
    ("Hips",),
    ("LeftUpLeg",),
    ("RightUpLeg",),
    ("Spine",),
    ("LeftLeg",),
    ("RightLeg",),
    ("Spine1",),
    ("LeftFoot",),
    ("RightFoot",),
    ("Spine2",),
    ("LeftToe", "LeftToeBase"),
    ("RightToe", "RightToeBase"),
    ("Neck",),
    ("LeftShoulder",),
    ("RightShoulder",),
    ("Head",),
    ("LeftArm",),
    ("RightArm",),
    ("LeftForeArm",),
    ("RightForeArm",),
    ("LeftHand",),
    ("RightHand",),
)
JOINT_MAPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "smpl": tuple((name,) for name in JOINT_NAMES),
    "mixamo": MIXAMO_NAMES,
}
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}  # metres per file unit

_PREFIX = re.compile(r"^mixamorig\d*:", re.IGNORECASE)
_CHANNEL = re.compile(r"^([XYZ])(position|rotation)$", re.IGNORECASE)
# Z-up to Y-up: (x, y, z) -> (x, z, -y), a proper rotation (-90 degrees about X) that keeps +X in place.
_Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# Pose-independent size of a skeleton: hip-to-ankle plus pelvis-to-head path lengths (about 1.48 m).
_SIZE_CHAINS = (
    ("left_hip", "left_knee", "left_ankle"),
    ("pelvis", "spine1", "spine2", "spine3", "neck", "head"),
)
_REFERENCE_SIZE = sum(BONE_LENGTHS[JOINT_INDEX[name]] for chain in _SIZE_CHAINS for name in chain[1:])

# Export layout: root translation then rotations; the Euler order matches the rotation channels.
_ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
_JOINT_CHANNELS = _ROOT_CHANNELS[3:]
_EULER = "ZYX"
_END_SITE_FRACTION = 0.5  # a leaf joint's End Site continues its bone by this fraction of the bone length
_DECIMALS = 6  # degrees and metres: 1e-6 resolution keeps the round trip well under 1e-4 m
_NUMBER = f"{{:.{_DECIMALS}f}}"
_CHILDREN = tuple(tuple(c for c in range(NUM_JOINTS) if PARENTS[c] == j) for j in range(NUM_JOINTS))


# ----------------------------------------------------------------------------------------------- parsing
@dataclass
class _Hierarchy:
    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[np.ndarray] = field(default_factory=list)
    channels: list[tuple[str, ...]] = field(default_factory=list)  # normalised, e.g. "Zrotation"


class _Tokens:
    """Whitespace-separated tokens of the HIERARCHY section, each with its 1-based line number."""

    def __init__(self, lines: list[str], path: str):
        self.items = [(token, number) for number, line in enumerate(lines, 1) for token in line.split()]
        self.pos = 0
        self.path = path
        self.last_line = len(lines)

    def error(self, message: str, line: int | None = None) -> ValueError:
        if line is None:
            line = self.items[self.pos - 1][1] if self.pos else 1
        return ValueError(f"{self.path}, line {line}: {message}; is this a valid BVH file?")

    def next(self, expected: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(f"the hierarchy ends where {expected} was expected", self.last_line)
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, word: str) -> None:
        token, line = self.next(f"'{word}'")
        if token.upper() != word.upper():
            raise self.error(f"expected '{word}', found '{token}'", line)

    def numbers(self, count: int, what: str) -> np.ndarray:
        values = []
        for _ in range(count):
            token, line = self.next(f"a number for {what}")
            try:
                values.append(float(token))
            except ValueError:
                raise self.error(f"{what} needs {count} numbers, found '{token}'", line) from None
        return np.array(values)


def _parse_channels(tokens: _Tokens) -> tuple[str, ...]:
    token, line = tokens.next("the channel count")
    if not token.isdigit() or int(token) > 6:
        raise tokens.error(f"CHANNELS needs a count from 0 to 6, found '{token}'", line)
    channels = []
    for _ in range(int(token)):
        name, line = tokens.next("a channel name")
        match = _CHANNEL.match(name)
        if match is None:
            raise tokens.error(f"unknown channel '{name}' (expected e.g. Xposition or Zrotation)", line)
        channel = match[1].upper() + match[2].lower()
        if channel in channels:
            raise tokens.error(f"channel '{name}' is listed twice", line)
        channels.append(channel)
    return tuple(channels)


def _parse_joint(tokens: _Tokens, name: str, parent: int, hierarchy: _Hierarchy) -> None:
    index = len(hierarchy.names)
    hierarchy.names.append(name)
    hierarchy.parents.append(parent)
    hierarchy.offsets.append(None)
    hierarchy.channels.append(())
    tokens.expect("{")
    while True:
        token, line = tokens.next("OFFSET, CHANNELS, JOINT, End Site or '}'")
        keyword = token.upper()
        if keyword == "OFFSET":
            hierarchy.offsets[index] = tokens.numbers(3, "OFFSET")
        elif keyword == "CHANNELS":
            hierarchy.channels[index] = _parse_channels(tokens)
        elif keyword == "JOINT":
            _parse_joint(tokens, tokens.next("a joint name")[0], index, hierarchy)
        elif keyword == "END":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            tokens.numbers(3, "OFFSET")
            tokens.expect("}")
        elif token == "}":
            break
        else:
            raise tokens.error(f"unexpected '{token}' in joint '{name}'", line)
    if hierarchy.offsets[index] is None:
        raise tokens.error(f"joint '{name}' has no OFFSET", line)


def _frame_rate(text: str, error) -> float:
    """Frames per second from the written Frame Time; snapped to a whole number when the text allows it."""
    try:
        frame_time = float(text)
    except ValueError:
        raise error(f"Frame Time must be a number, found '{text}'") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise error(f"Frame Time must be positive, found '{text}'")
    fps = 1.0 / frame_time
    # Writers print 1/fps rounded to a few decimals (0.0333333 for 30 fps): take the whole rate whose
    # frame time rounds to the written value.
    half_step = 0.5 * 10.0 ** Decimal(text).as_tuple().exponent
    whole = round(fps)
    if whole > 0 and abs(1.0 / whole - frame_time) <= half_step:
        return float(whole)
    return fps


def _parse(text: str, path: str) -> tuple[_Hierarchy, np.ndarray, float]:
    """Parse a BVH text into its hierarchy, the channel values ``(T, channels)`` and the frame rate."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().upper() == "MOTION"]
    if not starts:
        raise ValueError(f"{path}, line {len(lines)}: no MOTION section found; is this a valid BVH file?")
    tokens = _Tokens(lines[: starts[0]], path)
    hierarchy = _Hierarchy()
    tokens.expect("HIERARCHY")
    tokens.expect("ROOT")
    _parse_joint(tokens, tokens.next("the root joint name")[0], -1, hierarchy)
    if tokens.pos < len(tokens.items):
        token, line = tokens.items[tokens.pos]
        raise tokens.error(f"unexpected '{token}' after the root joint (only one ROOT is supported)", line)

    rest = [(number, line.split()) for number, line in enumerate(lines[starts[0] + 1 :], starts[0] + 2)]
    rest = [(number, words) for number, words in rest if words]

    def header(position: int, pattern: str, what: str) -> tuple[str, int]:
        number, words = rest[position] if position < len(rest) else (len(lines), [])
        match = re.fullmatch(pattern, " ".join(words), re.IGNORECASE)
        if match is None:
            raise ValueError(f"{path}, line {number}: expected '{what}'; is this a valid BVH file?")
        return match[1], number

    frames_text, frames_line = header(0, r"Frames\s*:\s*(\S+)", "Frames: N")
    time_text, time_line = header(1, r"Frame\s+Time\s*:\s*(\S+)", "Frame Time: seconds")
    if not frames_text.isdigit() or int(frames_text) == 0:
        raise ValueError(
            f"{path}, line {frames_line}: Frames must be a positive whole number, found '{frames_text}'",
        )
    fps = _frame_rate(time_text, lambda message: ValueError(f"{path}, line {time_line}: {message}"))

    rows = rest[2:]
    num_channels = sum(len(channels) for channels in hierarchy.channels)
    if len(rows) != int(frames_text):
        raise ValueError(
            f"{path}, line {frames_line}: declares {frames_text} frames but {len(rows)} data lines follow",
        )
    for number, words in rows:
        if len(words) != num_channels:
            raise ValueError(
                f"{path}, line {number}: expected {num_channels} channel values, found {len(words)}",
            )
    try:
        values = np.array([words for _, words in rows], dtype=np.float64)
    except ValueError:
        for number, words in rows:
            for word in words:
                try:
                    float(word)
                except ValueError:
                    raise ValueError(f"{path}, line {number}: '{word}' is not a number") from None
        raise
    return hierarchy, values, fps


# ------------------------------------------------------------------------------------------ import steps
def _forward_kinematics(hierarchy: _Hierarchy, values: np.ndarray) -> np.ndarray:
    """Global positions ``(T, J, 3)`` of every joint (End Sites excluded) in file units and axes."""
    num_frames = len(values)
    positions = np.zeros((num_frames, len(hierarchy.names), 3))
    rotations: list[Rotation] = []
    column = 0
    for joint, (parent, offset, channels) in enumerate(
        zip(hierarchy.parents, hierarchy.offsets, hierarchy.channels, strict=True)
    ):
        translation = np.tile(offset, (num_frames, 1))
        axes, angle_columns = "", []
        for channel in channels:
            if channel.endswith("position"):
                translation[:, "XYZ".index(channel[0])] = values[:, column]
            else:
                axes += channel[0]
                angle_columns.append(column)
            column += 1
        if axes:
            local = Rotation.from_euler(axes, values[:, angle_columns], degrees=True)
        else:
            local = Rotation.identity(num_frames)
        if parent < 0:
            rotations.append(local)
            positions[:, joint] = translation
        else:
            rotations.append(rotations[parent] * local)
            positions[:, joint] = positions[:, parent] + rotations[parent].apply(translation)
    return positions


def _normalise_name(name: str) -> str:
    return _PREFIX.sub("", name).lower()


def _select_joints(names: list[str], joint_map, path: str) -> list[int]:
    """Indices of the 22 HumanML3D joints among the file's joints, in HumanML3D order."""
    if isinstance(joint_map, dict):
        unknown = sorted(set(joint_map) - set(JOINT_NAMES))
        missing = [name for name in JOINT_NAMES if name not in joint_map]
        if unknown or missing:
            raise ValueError(
                f"joint_map dict must map every HumanML3D joint name to a BVH joint name; "
                f"unknown keys {unknown}, missing keys {missing}"
            )
        tables = {"joint_map": tuple((joint_map[name],) for name in JOINT_NAMES)}
    elif joint_map == "auto":
        tables = JOINT_MAPS
    elif isinstance(joint_map, str) and joint_map in JOINT_MAPS:
        tables = {joint_map: JOINT_MAPS[joint_map]}
    else:
        raise ValueError(f"joint_map must be 'auto', 'smpl', 'mixamo' or a dict, got {joint_map!r}")

    lookup: dict[str, int] = {}
    for index, name in enumerate(names):
        lookup.setdefault(_normalise_name(name), index)
    report = []
    for label, table in tables.items():
        found, missing = [], []
        for aliases in table:
            hits = [lookup[_normalise_name(a)] for a in aliases if _normalise_name(a) in lookup]
            (found if hits else missing).append(hits[0] if hits else "/".join(aliases))
        if not missing:
            return found
        report.append(f"the {label!r} names lack {', '.join(missing)}")
    raise ValueError(
        f"{path}: the file's joints do not cover the 22 HumanML3D joints: {'; '.join(report)}. "
        f"The file has: {', '.join(names)}. "
        "Pass joint_map={humanml3d_name: bvh_name, ...} for other namings."
    )


def _skeleton_size(joints: np.ndarray) -> float:
    """Median over frames of the hip-to-ankle plus pelvis-to-head path lengths (independent of the pose)."""
    total = np.zeros(len(joints))
    for chain in _SIZE_CHAINS:
        indices = [JOINT_INDEX[name] for name in chain]
        total += np.linalg.norm(np.diff(joints[:, indices], axis=1), axis=-1).sum(axis=1)
    return float(np.median(total))


def _unit_scale(unit, joints: np.ndarray, path: str) -> float:
    if unit == "auto":
        size = _skeleton_size(joints)
        if size <= 0:
            raise ValueError(
                f"{path}: the skeleton has zero size, so its unit cannot be inferred; pass unit=",
            )
        return min(UNITS.values(), key=lambda scale: abs(np.log(size * scale / _REFERENCE_SIZE)))
    if isinstance(unit, str):
        if unit not in UNITS:
            raise ValueError(
                f"unit must be 'auto', {', '.join(map(repr, UNITS))} or metres per unit, got {unit!r}",
            )
        return UNITS[unit]
    scale = float(unit)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"unit as a number is metres per file unit and must be positive, got {unit!r}")
    return scale


def _up_axis(up: str, joints: np.ndarray, path: str) -> str:
    if up in ("y", "z"):
        return up
    if up != "auto":
        raise ValueError(f"up must be 'auto', 'y' or 'z', got {up!r}")
    # The posed motion decides (not the rest offsets): some exporters keep a Y-up rest skeleton and put
    # the Z-up change of axes into the root rotation.
    head_up = np.mean(joints[:, JOINT_INDEX["head"]] - joints[:, JOINT_INDEX["pelvis"]], axis=0)
    axis = int(np.argmax(np.abs(head_up)))
    if axis == 0 or head_up[axis] <= 0:
        raise ValueError(
            f"{path}: cannot tell the up axis, the mean pelvis-to-head vector is "
            f"{np.round(head_up, 3).tolist()}; pass up='y' or up='z'"
        )
    return "xyz"[axis]


def load_bvh(path, joint_map="auto", unit="auto", up="auto") -> tuple[np.ndarray, float]:
    """Read a BVH file as ``(joints (T, 22, 3), fps)``: HumanML3D joint order, metres, Y up.

    ``joint_map``: "smpl" (HumanML3D joint names), "mixamo" (Hips, LeftUpLeg, ..., LeftToe or LeftToeBase),
    "auto" (whichever fits) or a dict {HumanML3D name: BVH name}; names match case-insensitively and a
    "mixamorig:" prefix is ignored.
    ``unit``: "m", "cm", "mm", metres per file unit, or "auto": the unit that makes the skeleton
    human-sized, judged by its hip-to-ankle and pelvis-to-head path lengths.
    ``up``: "y", "z" or "auto": the axis the mean pelvis-to-head vector of the motion points along.
    Z-up data becomes Y-up by (x, y, z) -> (x, z, -y), so a Z-up character facing -Y with its left at +X
    ends up facing +Z with its left at +X, as in HumanML3D.
    The frame rate is 1 / Frame Time, rounded to a whole number when the written Frame Time is that
    rate's frame time rounded (0.0333333 -> 30).
    Raises ValueError with the line number for a malformed file, and naming the joints a map cannot find.
    """
    path_text = str(path)
    hierarchy, values, fps = _parse(Path(path).read_text(encoding="utf-8", errors="replace"), path_text)
    joints = _forward_kinematics(hierarchy, values)[:, _select_joints(hierarchy.names, joint_map, path_text)]
    joints = joints * _unit_scale(unit, joints, path_text)
    if _up_axis(up, joints, path_text) == "z":
        joints = joints @ _Z_UP_TO_Y_UP.T
    return check_joints(joints, min_frames=1, name=f"joints read from {path_text}"), fps


# ------------------------------------------------------------------------------------------ export steps
def _kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` that best map the vectors ``source (K, 3)`` onto ``target (T, K, 3)``."""
    u, _, vt = np.linalg.svd(np.einsum("ki,tkj->tij", source, target))
    v, ut = np.swapaxes(vt, 1, 2), np.swapaxes(u, 1, 2)
    sign = np.where(np.linalg.det(v @ ut) < 0, -1.0, 1.0)
    correction = np.ones((len(target), 3))
    correction[:, 2] = sign
    return (v * correction[:, None, :]) @ ut


def _swing(source: np.ndarray, target: np.ndarray) -> Rotation:
    """The smallest rotations that turn the direction ``source (3,)`` into each of ``target (T, 3)``."""
    if not np.any(source):  # a zero-length bone has no direction to turn
        return Rotation.identity(len(target))
    a = source / np.linalg.norm(source)
    length = np.linalg.norm(target, axis=-1, keepdims=True)
    b = np.where(length > 0, target / np.where(length > 0, length, 1.0), a)
    axis = np.cross(a, b)
    sine, cosine = np.linalg.norm(axis, axis=-1), b @ a
    tiny = sine <= 1e-12
    rotvec = axis * np.where(tiny, 1.0, np.arctan2(sine, cosine) / np.where(tiny, 1.0, sine))[:, None]
    opposite = tiny & (cosine < 0)
    if opposite.any():  # half turn about any axis perpendicular to the bone
        helper = np.eye(3)[np.argmin(np.abs(a))]
        perpendicular = np.cross(a, helper)
        rotvec[opposite] = perpendicular / np.linalg.norm(perpendicular) * np.pi
    return Rotation.from_rotvec(rotvec)


def _rest_offsets(joints: np.ndarray) -> np.ndarray:
    """Bone OFFSETs ``(22, 3)``: median bone lengths along the raw directions; the children of a joint with
    several children keep their mean observed layout, turned to fit the raw directions best."""
    bones = joints - joints[:, [max(p, 0) for p in PARENTS]]
    offsets = RAW_OFFSETS * np.median(np.linalg.norm(bones, axis=-1), axis=0)[:, None]
    for children in _CHILDREN:
        if len(children) > 1:
            observed = bones[:, list(children)]
            turn = _kabsch(offsets[list(children)], observed)
            offsets[list(children)] = np.einsum("tji,tkj->tki", turn, observed).mean(axis=0)
    return offsets


def _inverse_kinematics(joints: np.ndarray, offsets: np.ndarray) -> list[Rotation]:
    """Local rotations (one Rotation of length T per joint) that carry ``offsets`` onto ``joints``.

    A joint with one child gets the minimal rotation from its parent's frame (twist zero); a joint with
    several children gets the rotation that best fits all child bones; leaf joints keep the identity.
    """
    identity = Rotation.identity(len(joints))
    rebuilt = joints.copy()  # positions the exported skeleton reaches so far
    world: list[Rotation] = []
    local: list[Rotation] = []
    for joint, children in enumerate(_CHILDREN):
        parent_world = world[PARENTS[joint]] if PARENTS[joint] >= 0 else identity
        if not children:
            rotation = identity
        else:
            # Aim from where the skeleton put this joint, so that length errors do not add up along a chain.
            seen = np.stack(
                [parent_world.apply(joints[:, c] - rebuilt[:, joint], inverse=True) for c in children], axis=1
            )
            if len(children) == 1:
                rotation = _swing(offsets[children[0]], seen[:, 0])
            else:
                rotation = Rotation.from_matrix(_kabsch(offsets[list(children)], seen))
        local.append(rotation)
        world.append(parent_world * rotation)
        for child in children:
            rebuilt[:, child] = rebuilt[:, joint] + world[joint].apply(offsets[child])
    return local


def _format_bvh(
    names: list[str],
    offsets: np.ndarray,
    joints: np.ndarray,
    local: list[Rotation],
    fps: float,
) -> str:
    lines = ["HIERARCHY"]
    order: list[int] = []

    def vector(v) -> str:
        return " ".join(_NUMBER.format(x) for x in np.round(v, _DECIMALS) + 0.0)  # + 0.0 turns -0.0 into 0.0

    def write(joint: int, depth: int) -> None:
        pad = "\t" * depth
        channels = _ROOT_CHANNELS if joint == 0 else _JOINT_CHANNELS
        order.append(joint)
        lines.append(f"{pad}{'ROOT' if joint == 0 else 'JOINT'} {names[joint]}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {vector(offsets[joint])}")
        lines.append(f"{pad}\tCHANNELS {len(channels)} {' '.join(channels)}")
        for child in _CHILDREN[joint]:
            write(child, depth + 1)
        if not _CHILDREN[joint]:
            tip = RAW_OFFSETS[joint] * _END_SITE_FRACTION * np.linalg.norm(offsets[joint])
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {vector(tip)}", f"{pad}\t}}"])
        lines.append(pad + "}")

    write(0, 0)
    with warnings.catch_warnings():  # at gimbal lock the angles still compose to the right rotation
        warnings.filterwarnings("ignore", message=".*[Gg]imbal lock.*")
        angles = [np.unwrap(local[j].as_euler(_EULER, degrees=True), period=360.0, axis=0) for j in order]
    table = np.concatenate([joints[:, 0], *angles], axis=1)
    lines += ["MOTION", f"Frames: {len(joints)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [vector(row) for row in table]
    return "\n".join(lines) + "\n"


def save_bvh(path, joints, fps: float | None = None, names: str = "smpl") -> None:
    """Write joints ``(T, 22, 3)`` (Y up, metres) or a ``Motion`` (anything with ``.joints`` and ``.fps``)
    as a BVH file in metres, Y up (import into Blender at scale 1; choose 0.01 if a tool expects cm).

    ``fps`` defaults to the motion's own rate (20 for a bare array). ``names``: "smpl" (HumanML3D joint
    names) or "mixamo" (Hips, LeftUpLeg, ...). The skeleton follows ``skeleton.PARENTS``; OFFSETs are the
    motion's median bone lengths along ``skeleton.RAW_OFFSETS`` (the children of the pelvis and of spine3
    keep their own mean layout). The root has 6 channels (Xposition Yposition Zposition Zrotation Yrotation
    Xrotation), other joints 3 (Zrotation Yrotation Xrotation), leaf joints an End Site. Rotations come from
    inverse kinematics, so reading the file back reproduces joints with constant bone lengths to ~1e-6 m.
    """
    if hasattr(joints, "joints") and hasattr(joints, "fps"):
        fps = joints.fps if fps is None else fps
        joints = joints.joints
    joints = check_joints(joints, min_frames=1)
    fps = check_fps(FPS if fps is None else fps)
    if names not in JOINT_MAPS:
        raise ValueError(f"names must be one of {sorted(JOINT_MAPS)}, got {names!r}")
    offsets = _rest_offsets(joints)
    local = _inverse_kinematics(joints, offsets)
    joint_names = [aliases[0] for aliases in JOINT_MAPS[names]]
    write_text(path, _format_bvh(joint_names, offsets, joints, local, fps))
