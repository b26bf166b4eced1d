"""The HumanML3D skeleton and format constants: the one place for joint order, fps and feature layout.

Numbers that describe the reference skeleton live as data in ``assets/skeleton.json``; everything
else here is derived from them or is a fixed property of the HumanML3D format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
_SKELETON = json.loads((ASSETS_DIR / "skeleton.json").read_text())

JOINT_NAMES: tuple[str, ...] = tuple(_SKELETON["joint_names"])
NUM_JOINTS = len(JOINT_NAMES)  # 22
PARENTS: tuple[int, ...] = tuple(_SKELETON["parents"])
KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = tuple(tuple(c) for c in _SKELETON["kinematic_chains"])
RAW_OFFSETS = np.asarray(_SKELETON["raw_offsets"], dtype=np.float64)  # (22, 3) unit directions
BONE_LENGTHS = np.asarray(_SKELETON["bone_lengths"], dtype=np.float64)  # (22,), joint to its parent
TARGET_OFFSETS = RAW_OFFSETS * BONE_LENGTHS[:, None]  # (22, 3) the uniform skeleton's bones

JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# Left/right swap used by mirroring: each joint maps to its counterpart (itself if central).
MIRROR_PERMUTATION: tuple[int, ...] = tuple(
    JOINT_INDEX[name.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_")] for name in JOINT_NAMES
)

# HumanML3D processing constants.
FPS = 20  # frames per second of the format
MAX_FRAMES = 196  # longest clip (9.8 s) the loaders keep
MIN_FRAMES = 40  # shortest clip (2 s) the loaders keep
UNIT_LENGTH = 4  # lengths are multiples of this in training/evaluation crops
FACE_JOINTS = (2, 1, 17, 16)  # right hip, left hip, right shoulder, left shoulder
FOOT_JOINTS = (7, 10, 8, 11)  # left ankle, left foot, right ankle, right foot (contact order)
LEFT_FOOT_JOINTS = (7, 10)
RIGHT_FOOT_JOINTS = (8, 11)
LEG_RATIO_JOINTS = (5, 8)  # right knee, right ankle: bones used for the root scale
FOOT_CONTACT_THRESHOLD = 0.002  # squared per-frame displacement (m^2) under which a foot is in contact
HEADING_SMOOTH_SIGMA = 20  # frames, Gaussian filter on the forward direction

# 263-d feature layout, derived from the joint count.
_J = NUM_JOINTS
ROOT_ROT_VEL = slice(0, 1)
ROOT_LIN_VEL = slice(1, 3)
ROOT_Y = slice(3, 4)
RIC = slice(4, 4 + (_J - 1) * 3)
ROT6D = slice(RIC.stop, RIC.stop + (_J - 1) * 6)
LOCAL_VEL = slice(ROT6D.stop, ROT6D.stop + _J * 3)
CONTACTS = slice(LOCAL_VEL.stop, LOCAL_VEL.stop + 4)
FEATURE_DIM = CONTACTS.stop  # 263
# Feature groups whose std HumanML3D replaces by the group average (Mean/Std convention).
FEATURE_GROUPS = (ROOT_ROT_VEL, ROOT_LIN_VEL, ROOT_Y, RIC, ROT6D, LOCAL_VEL, CONTACTS)

assert FEATURE_DIM == 263
