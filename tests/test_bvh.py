"""BVH import and export: round trip, a hand-written Mixamo-style file, unit/up detection, errors."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motion_diffusion.motion.bvh import load_bvh, save_bvh
from motion_diffusion.motion.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS, TARGET_OFFSETS

J = JOINT_INDEX


def _moving_motion(num_frames: int = 80, fps: float = 20.0, seed: int = 0) -> np.ndarray:
    """Joints by FK on the target skeleton: smooth random joint rotations, turning and walking root."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    amplitude = rng.uniform(0.2, 0.9, (NUM_JOINTS, 3))
    frequency = rng.uniform(0.3, 1.5, (NUM_JOINTS, 3))
    phase = rng.uniform(0.0, 2 * np.pi, (NUM_JOINTS, 3))
    rotvecs = amplitude * np.sin(2 * np.pi * frequency * t[:, None, None] + phase)
    rotvecs[:, 0] = np.stack([0.3 * np.sin(t), 2.0 * t, 0.2 * np.cos(2 * t)], axis=-1)  # turns > 180 deg
    joints = np.zeros((num_frames, NUM_JOINTS, 3))
    joints[:, 0] = np.stack([np.sin(t), 0.9 + 0.05 * np.sin(3 * t), 0.8 * t], axis=-1)
    world = [Rotation.from_rotvec(rotvecs[:, 0])]
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        joints[:, j] = joints[:, parent] + world[parent].apply(TARGET_OFFSETS[j])
        world.append(world[parent] * Rotation.from_rotvec(rotvecs[:, j]))
    return joints


@pytest.mark.parametrize("names", ["smpl", "mixamo"])
def test_round_trip_reproduces_joints(tmp_path, names):
    joints = _moving_motion()
    path = tmp_path / "motion.bvh"
    save_bvh(path, joints, fps=20.0, names=names)
    loaded, fps = load_bvh(path)
    assert fps == 20.0
    assert loaded.shape == joints.shape
    assert np.abs(loaded - joints).max() <= 1e-4


def test_export_rest_pose_follows_raw_directions(tmp_path):
    joints = _moving_motion(num_frames=10)
    path = tmp_path / "motion.bvh"
    save_bvh(path, joints)
    lines = path.read_text().splitlines()
    offsets = {}
    for i, line in enumerate(lines):
        words = line.split()
        if words and words[0] in ("ROOT", "JOINT"):
            offsets[words[1]] = np.array(lines[i + 2].split()[1:], dtype=float)
    assert set(offsets) == set(JOINT_INDEX)
    for name in ("left_knee", "left_ankle", "left_foot", "right_elbow", "head"):
        np.testing.assert_allclose(offsets[name], TARGET_OFFSETS[J[name]], atol=2e-6)
    # Children of the pelvis keep the skeleton's layout (the fit recovers it exactly for a rigid pelvis).
    np.testing.assert_allclose(offsets["left_hip"], TARGET_OFFSETS[J["left_hip"]], atol=2e-6)
    assert "End Site" in path.read_text()


def test_motion_object_and_30_fps(tmp_path):
    motion = SimpleNamespace(joints=_moving_motion(num_frames=12, fps=30.0), fps=30.0)
    path = tmp_path / "motion.bvh"
    save_bvh(path, motion)
    assert "Frame Time: 0.0333333" in path.read_text()
    loaded, fps = load_bvh(path)
    assert fps == 30.0
    assert np.abs(loaded - motion.joints).max() <= 1e-4


# A Mixamo-style file in centimetres, Z up (the character faces -Y, its left is +X), with prefixed names,
# non-XYZ rotation orders and a 6-channel spine joint whose position channels replace its OFFSET.
_MIXAMO_HIERARCHY = """HIERARCHY
ROOT mixamorig:Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT mixamorig:LeftUpLeg
  {
    OFFSET 10 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT mixamorig:LeftLeg
    {
      OFFSET 0 0 -40
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT mixamorig:LeftFoot
      {
        OFFSET 0 0 -40
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT mixamorig:LeftToe
        {
          OFFSET 0 -15 0
          CHANNELS 3 Zrotation Xrotation Yrotation
          End Site
          {
            OFFSET 0 -5 0
          }
        }
      }
    }
  }
  JOINT mixamorig:RightUpLeg
  {
    OFFSET -10 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT mixamorig:RightLeg
    {
      OFFSET 0 0 -40
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT mixamorig:RightFoot
      {
        OFFSET 0 0 -40
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT mixamorig:RightToeBase
        {
          OFFSET 0 -15 0
          CHANNELS 3 Zrotation Xrotation Yrotation
          End Site
          {
            OFFSET 0 -5 0
          }
        }
      }
    }
  }
  JOINT mixamorig:Spine
  {
    OFFSET 0 0 10
    CHANNELS 6 Yrotation Xrotation Zrotation Xposition Yposition Zposition
    JOINT mixamorig:Spine1
    {
      OFFSET 0 0 10
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT mixamorig:Spine2
      {
        OFFSET 0 0 10
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT mixamorig:Neck
        {
          OFFSET 0 0 20
          CHANNELS 3 Zrotation Xrotation Yrotation
          JOINT mixamorig:Head
          {
            OFFSET 0 0 10
            CHANNELS 3 Zrotation Xrotation Yrotation
            End Site
            {
              OFFSET 0 0 10
            }
          }
        }
        JOINT mixamorig:LeftShoulder
        {
          OFFSET 5 0 15
          CHANNELS 3 Zrotation Xrotation Yrotation
          JOINT mixamorig:LeftArm
          {
            OFFSET 10 0 0
            CHANNELS 3 Zrotation Xrotation Yrotation
            JOINT mixamorig:LeftForeArm
            {
              OFFSET 25 0 0
              CHANNELS 3 Zrotation Xrotation Yrotation
              JOINT mixamorig:LeftHand
              {
                OFFSET 25 0 0
                CHANNELS 3 Zrotation Xrotation Yrotation
                End Site
                {
                  OFFSET 10 0 0
                }
              }
            }
          }
        }
        JOINT mixamorig:RightShoulder
        {
          OFFSET -5 0 15
          CHANNELS 3 Zrotation Xrotation Yrotation
          JOINT mixamorig:RightArm
          {
            OFFSET -10 0 0
            CHANNELS 3 Zrotation Xrotation Yrotation
            JOINT mixamorig:RightForeArm
            {
              OFFSET -25 0 0
              CHANNELS 3 Zrotation Xrotation Yrotation
              JOINT mixamorig:RightHand
              {
                OFFSET -25 0 0
                CHANNELS 3 Zrotation Xrotation Yrotation
                End Site
                {
                  OFFSET -10 0 0
                }
              }
            }
          }
        }
      }
    }
  }
}
"""
# Joints in file order with their channel counts (to lay out the frame rows).
_FILE_JOINTS = [
    ("Hips", 6), ("LeftUpLeg", 3), ("LeftLeg", 3), ("LeftFoot", 3), ("LeftToe", 3), ("RightUpLeg", 3),
    ("RightLeg", 3), ("RightFoot", 3), ("RightToeBase", 3), ("Spine", 6), ("Spine1", 3), ("Spine2", 3),
    ("Neck", 3), ("Head", 3), ("LeftShoulder", 3), ("LeftArm", 3), ("LeftForeArm", 3), ("LeftHand", 3),
    ("RightShoulder", 3), ("RightArm", 3), ("RightForeArm", 3), ("RightHand", 3),
]  # fmt: skip
# Non-zero channel values per frame, in each joint's channel order.
_FRAMES = [
    {"Hips": [0, 0, 100, 0, 0, 0], "Spine": [0, 0, 0, 0, 0, 10]},
    # Left hip: Z 90 then X 90 (Rz @ Rx); left shoulder: Z 90; spine translated 2 cm further up.
    {
        "Hips": [0, 0, 100, 0, 0, 0],
        "Spine": [0, 0, 0, 0, 0, 12],
        "LeftUpLeg": [90, 90, 0],
        "LeftArm": [90, 0, 0],
    },
    # Root moved and turned 90 degrees about the vertical (Z) axis.
    {"Hips": [10, -20, 95, 90, 0, 0], "Spine": [0, 0, 0, 0, 0, 10]},
]
# Expected positions worked out by hand, in the file's frame (cm, Z up).
_EXPECTED_Z_UP_CM = [
    {"pelvis": (0, 0, 100), "left_hip": (10, 0, 100), "left_knee": (10, 0, 60), "left_ankle": (10, 0, 20),
     "left_foot": (10, -15, 20), "right_foot": (-10, -15, 20), "head": (0, 0, 160),
     "left_shoulder": (15, 0, 145), "left_elbow": (40, 0, 145), "left_wrist": (65, 0, 145),
     "right_wrist": (-65, 0, 145)},
    {"left_knee": (-30, 0, 100), "left_ankle": (-70, 0, 100), "left_foot": (-70, 0, 85), "head": (0, 0, 162),
     "left_shoulder": (15, 0, 147), "left_elbow": (15, 25, 147), "left_wrist": (15, 50, 147)},
    {"pelvis": (10, -20, 95), "left_hip": (10, -10, 95), "left_ankle": (10, -10, 15),
     "left_foot": (25, -10, 15), "head": (10, -20, 155), "left_wrist": (10, 45, 140)},
]  # fmt: skip


_POSITION_CHANNELS = {"Hips": slice(0, 3), "Spine": slice(3, 6)}


def _mixamo_text(frame_time: str = "0.0333333", scale: float = 1.0) -> str:
    """The hand-written file; ``scale`` multiplies every length (OFFSETs and position channels)."""
    hierarchy = re.sub(
        r"OFFSET (\S+) (\S+) (\S+)",
        lambda match: "OFFSET " + " ".join(f"{float(v) * scale:g}" for v in match.groups()),
        _MIXAMO_HIERARCHY,
    )
    rows = []
    for frame in _FRAMES:
        values = []
        for name, count in _FILE_JOINTS:
            channels = np.array(frame.get(name, [0] * count), dtype=float)
            channels[_POSITION_CHANNELS.get(name, slice(0))] *= scale
            values += channels.tolist()
        rows.append(" ".join(f"{v:g}" for v in values))
    return f"{hierarchy}MOTION\nFrames: {len(rows)}\nFrame Time: {frame_time}\n" + "\n".join(rows) + "\n"


def test_hand_written_mixamo_z_up_cm(tmp_path):
    path = tmp_path / "mixamo.bvh"
    path.write_text(_mixamo_text())
    joints, fps = load_bvh(path)
    assert fps == 30.0
    assert joints.shape == (3, NUM_JOINTS, 3)
    for frame, expected in enumerate(_EXPECTED_Z_UP_CM):
        for name, (x, y, z) in expected.items():
            # Z-up cm -> Y-up m: up (file +Z) becomes +Y, forward (file -Y) becomes +Z, left stays +X.
            np.testing.assert_allclose(
                joints[frame, J[name]],
                np.array([x, z, -y]) / 100,
                atol=1e-9,
                err_msg=name,
            )
    rest = joints[0]
    assert rest[J["head"], 1] > rest[J["pelvis"], 1] > rest[J["left_ankle"], 1]  # up is +Y
    assert rest[J["left_wrist"], 0] > 0 > rest[J["right_wrist"], 0]  # the character's left is +X
    assert rest[J["left_foot"], 2] > rest[J["left_ankle"], 2]  # toes point forward, +Z
    # Explicit arguments agree with the detection.
    explicit, _ = load_bvh(path, joint_map="mixamo", unit="cm", up="z")
    np.testing.assert_array_equal(explicit, joints)
    np.testing.assert_allclose(load_bvh(path, unit=0.01, up="z")[0], joints, atol=1e-12)


def test_unit_and_up_detection(tmp_path):
    cm_path, m_path = tmp_path / "cm.bvh", tmp_path / "m.bvh"
    cm_path.write_text(_mixamo_text())
    m_path.write_text(_mixamo_text(scale=0.01))
    from_cm, _ = load_bvh(cm_path)
    from_m, _ = load_bvh(m_path)
    np.testing.assert_allclose(from_m, from_cm, atol=1e-9)
    assert np.abs(load_bvh(m_path, unit="cm")[0] - from_cm).max() > 0.5  # a wrong unit really differs

    # Reading the Z-up file as Y-up leaves it lying down: the detected axis is what made it upright.
    as_y_up, _ = load_bvh(cm_path, up="y")
    np.testing.assert_allclose(as_y_up @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T, from_cm, atol=1e-12)
    assert not np.allclose(as_y_up, from_cm)

    # A Y-up file in metres stays as it is.
    joints = _moving_motion(num_frames=6)
    y_path = tmp_path / "y.bvh"
    save_bvh(y_path, joints)
    np.testing.assert_allclose(
        load_bvh(y_path, unit="auto", up="auto")[0],
        load_bvh(y_path, unit="m", up="y")[0],
    )


def test_frame_time_rates(tmp_path):
    path = tmp_path / "rate.bvh"
    for frame_time, fps in [
        ("0.0333333", 30.0),
        ("0.05", 20.0),
        ("0.008333", 120.0),
        ("0.0345000", 1 / 0.0345),
    ]:
        path.write_text(_mixamo_text(frame_time))
        assert load_bvh(path)[1] == pytest.approx(fps, rel=1e-12), frame_time


# The file's names in HumanML3D joint order.
_FILE_NAMES = (
    "Hips LeftUpLeg RightUpLeg Spine LeftLeg RightLeg Spine1 LeftFoot RightFoot Spine2 LeftToe RightToeBase "
    "Neck LeftShoulder RightShoulder Head LeftArm RightArm LeftForeArm RightForeArm LeftHand RightHand"
).split()


def test_custom_joint_map(tmp_path):
    path = tmp_path / "mixamo.bvh"
    path.write_text(_mixamo_text())
    mapping = {name: f"mixamorig:{bvh_name}" for name, bvh_name in zip(JOINT_INDEX, _FILE_NAMES, strict=True)}
    np.testing.assert_array_equal(load_bvh(path, joint_map=mapping)[0], load_bvh(path)[0])
    with pytest.raises(ValueError, match="missing keys"):
        load_bvh(path, joint_map={"pelvis": "Hips"})


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("OFFSET 0 0 -40", "OFFSET 0 zero -40", 12, "numbers"),
        (
            "CHANNELS 3 Zrotation Xrotation Yrotation",
            "CHANNELS 3 Zrotation Xrotation Wrotation",
            9,
            "channel",
        ),
        ("  {\n    OFFSET 10 0 0", "  (\n    OFFSET 10 0 0", 7, "expected '{'"),
        ("Frame Time: 0.0333333", "Frame Time: 0", 134, "positive"),
        ("\n0 0 100 0 0 0 0 0 0 0 0 0 0", "\n0 0 100 0 0 0 0 0 x 0 0 0 0", 135, "not a number"),
        ("\n10 -20 95 90 0 0", "\n10 -20 95 90 0", 137, "values"),
        ("Frames: 3", "Frames: 4", 133, "declares 4 frames"),
    ],
)
def test_malformed_file_names_the_line(tmp_path, old, new, line, message):
    text = _mixamo_text()
    assert text.count(old) >= 1
    path = tmp_path / "bad.bvh"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ValueError, match=f"line {line}:.*{message}"):
        load_bvh(path)


def test_missing_joints_are_named(tmp_path):
    text = _mixamo_text().replace("mixamorig:LeftHand", "mixamorig:LeftPalm")
    path = tmp_path / "partial.bvh"
    path.write_text(text)
    with pytest.raises(ValueError, match="LeftHand") as error:
        load_bvh(path)
    assert "left_wrist" in str(error.value)  # the SMPL naming's gaps are reported too
    with pytest.raises(ValueError, match="LeftHand"):
        load_bvh(path, joint_map="mixamo")


def test_export_rejects_bad_input(tmp_path):
    joints = _moving_motion(num_frames=5)
    joints[2, 7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        save_bvh(tmp_path / "nan.bvh", joints)
    assert not (tmp_path / "nan.bvh").exists()
    with pytest.raises(ValueError, match=r"shape \(T, 22, 3\)"):
        save_bvh(tmp_path / "shape.bvh", np.zeros((5, 21, 3)))
    with pytest.raises(ValueError, match="fps"):
        save_bvh(tmp_path / "fps.bvh", _moving_motion(num_frames=5), fps=0)
    with pytest.raises(ValueError, match="names"):
        save_bvh(tmp_path / "names.bvh", _moving_motion(num_frames=5), names="blender")
