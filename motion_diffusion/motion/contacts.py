"""Foot heights and foot-floor contacts of 22-joint Y-up motions: the one place for the contact rule.

The floor is y = 0, HumanML3D's convention (the lowest joint of a clip sits on it). The rule here is used by
the physics metrics (``physics_correct.metrics``) and by the stick-figure renderer (``motion_diffusion.viz``).
"""

from __future__ import annotations

import numpy as np

from .checks import check_fps, check_joints
from .skeleton import FOOT_CONTACT_THRESHOLD, FOOT_JOINTS, FPS, JOINT_NAMES

# Height of the ankle joint above the sole when the foot is flat. The neutral SMPL ankle->toe offset drops
# 5-6 cm (reference physics.md 1.3); we take the low end so the correction never makes a flat foot look sunk.
# Subtracting it lets a heel-down foot (toe raised) count as touching the floor.
ANKLE_SOLE_HEIGHT = 0.05  # m

# A foot joint is near the floor when its sole height is below this band: GMD's 5 cm (physics.md 4.1-4.2).
CONTACT_HEIGHT = 0.05  # m

# HumanML3D's contact rule (squared displacement per 1/20 s frame < FOOT_CONTACT_THRESHOLD) as a speed.
CONTACT_SPEED = float(np.sqrt(FOOT_CONTACT_THRESHOLD) * FPS)  # m/s, about 0.89

# Per-joint sole offset over all 22 joints: the ankle height for the ankles, 0 elsewhere.
SOLE_OFFSETS = np.array([ANKLE_SOLE_HEIGHT if name.endswith("_ankle") else 0.0 for name in JOINT_NAMES])


def sole_heights(joints) -> np.ndarray:
    """Height (m) above the floor of the sole point under each joint of ``(..., T, 22, 3)``: ``(..., T, 22)``.

    Equal to the joint height except for the ankles, which are lowered by ``ANKLE_SOLE_HEIGHT``.
    """
    joints = check_joints(joints, min_frames=1)
    return joints[..., 1] - SOLE_OFFSETS


def foot_speeds(joints, fps: float = FPS) -> np.ndarray:
    """Speed (m/s) of the four foot joints ``FOOT_JOINTS`` from frame t to t+1: ``(..., T, 4)``.

    The last frame repeats the previous speed, so the result has one value per frame.
    """
    joints = check_joints(joints, min_frames=2)
    fps = check_fps(fps)
    feet = joints[..., list(FOOT_JOINTS), :]
    speed = np.linalg.norm(np.diff(feet, axis=-3), axis=-1) * fps
    return np.concatenate([speed, speed[..., -1:, :]], axis=-2)


def foot_contacts(joints, fps: float = FPS, height=CONTACT_HEIGHT, speed=CONTACT_SPEED) -> np.ndarray:
    """Foot-floor contacts ``(..., T, 4)`` bool, columns in ``FOOT_JOINTS`` order (ankle, toe; left first).

    A foot joint is in contact when its sole height is below ``height`` (m) and it moves slower than ``speed``
    (m/s, HumanML3D's velocity threshold made independent of the frame rate).
    """
    near_floor = sole_heights(joints)[..., list(FOOT_JOINTS)] < height
    return near_floor & (foot_speeds(joints, fps) < speed)
