"""The shared motion representation (numpy only): skeleton, HumanML3D features, ``Motion``, BVH, normalisation."""

from .bvh import load_bvh, save_bvh
from .features import features_to_joints, joints_to_features
from .motion import Motion, mirror_text
from .normalize import Normalizer, compute_mean_std
from .skeleton import (
    BONE_LENGTHS,
    FEATURE_DIM,
    FPS,
    JOINT_NAMES,
    KINEMATIC_CHAINS,
    MAX_FRAMES,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
    TARGET_OFFSETS,
)

__all__ = [
    "BONE_LENGTHS",
    "FEATURE_DIM",
    "FPS",
    "JOINT_NAMES",
    "KINEMATIC_CHAINS",
    "MAX_FRAMES",
    "Motion",
    "NUM_JOINTS",
    "Normalizer",
    "PARENTS",
    "RAW_OFFSETS",
    "TARGET_OFFSETS",
    "compute_mean_std",
    "features_to_joints",
    "joints_to_features",
    "load_bvh",
    "mirror_text",
    "save_bvh",
]
