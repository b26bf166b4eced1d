"""``Motion``: the one value type for a motion (22 joint positions over time, its frame rate, an optional caption)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from .checks import check_fps, check_joints
from .skeleton import FPS, MIRROR_PERMUTATION

_MIRROR_WORDS = {
    "left": "right",
    "right": "left",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "anticlockwise": "clockwise",
    "counter-clockwise": "clockwise",
    "anti-clockwise": "clockwise",
}
_MIRROR_PATTERN = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _MIRROR_WORDS), key=len, reverse=True)) + r")\b", re.IGNORECASE
)


def mirror_text(text: str) -> str:
    """Swap left/right and clockwise/counterclockwise in a caption, as HumanML3D does for mirrored clips."""

    def swap(match: re.Match) -> str:
        word = match.group(0)
        new = _MIRROR_WORDS[word.lower()]
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new

    return _MIRROR_PATTERN.sub(swap, text)


@dataclass(frozen=True, eq=False)
class Motion:
    """A motion: ``joints`` ``(T, 22, 3)`` Y-up positions in metres (HumanML3D joint order), ``fps``, ``text``.

    The joints array is validated (finite, at least 2 frames) and stored read-only as float64.
    """

    joints: np.ndarray
    fps: float = FPS
    text: str | None = None

    def __post_init__(self):
        joints = np.array(check_joints(self.joints), dtype=np.float64)
        if joints.ndim != 3:
            raise ValueError(f"a Motion holds one clip of shape (T, 22, 3), got {joints.shape}")
        joints.flags.writeable = False
        object.__setattr__(self, "joints", joints)
        object.__setattr__(self, "fps", check_fps(self.fps))
        if self.text is not None and not isinstance(self.text, str):
            raise ValueError(f"text must be a string or None, got {type(self.text).__name__}")

    @property
    def num_frames(self) -> int:
        return self.joints.shape[0]

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    @classmethod
    def from_features(cls, features, fps: float = FPS, text: str | None = None, from_rotations: bool = False) -> Motion:
        """Recover a motion from HumanML3D features ``(T, 263)`` (un-normalised) by either recovery path."""
        from .features import features_to_joints

        return cls(features_to_joints(features, from_rotations=from_rotations), fps=fps, text=text)

    def to_features(self, fix_yaw_wrap: bool = False) -> np.ndarray:
        """HumanML3D features ``(T'-1, 263)`` of this motion, resampled to 20 fps first if needed."""
        from .features import joints_to_features

        motion = self if self.fps == FPS else self.resample(FPS)
        return joints_to_features(motion.joints, fix_yaw_wrap=fix_yaw_wrap)

    def resample(self, fps: float) -> Motion:
        """Resample in time with shape-preserving cubic (PCHIP) interpolation; frame 0 is kept.

        The new clip covers the same duration (rounded down to a whole frame), so 20 -> 60 -> 20 fps returns
        the original frames exactly.
        """
        fps = check_fps(fps)
        if fps == self.fps:
            return self
        num = int(np.floor(self.duration * fps + 1e-9)) + 1
        if num < 2:
            raise ValueError(f"a {self.duration:.3f} s motion is too short to resample to {fps} fps")
        old_t = np.arange(self.num_frames) / self.fps
        new_t = np.arange(num) / fps
        joints = PchipInterpolator(old_t, self.joints, axis=0)(new_t)
        return Motion(joints, fps=fps, text=self.text)

    def mirror(self) -> Motion:
        """Left/right mirror as HumanML3D's ``M`` clips: x negated, left and right joints and words swapped."""
        joints = self.joints[:, list(MIRROR_PERMUTATION)] * np.array([-1.0, 1.0, 1.0])
        text = None if self.text is None else mirror_text(self.text)
        return Motion(joints, fps=self.fps, text=text)

    def __repr__(self) -> str:
        caption = "" if self.text is None else f", text={self.text!r}"
        return f"Motion({self.num_frames} frames, {self.fps:g} fps{caption})"
