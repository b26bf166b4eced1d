"""The shared motion representation (numpy only): skeleton, HumanML3D features, ``Motion``, BVH, normalisation."""

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

_LAZY = {
    "joints_to_features": "features",
    "features_to_joints": "features",
    "load_bvh": "bvh",
    "save_bvh": "bvh",
}


def __getattr__(name):
    # features.py and bvh.py import on first use, so this package stays cheap to import.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
