"""Input validation shared by every public function that takes motions: clear errors, no coercion."""

from __future__ import annotations

import numpy as np

from .skeleton import FEATURE_DIM, NUM_JOINTS


def _finite(name: str, array: np.ndarray) -> None:
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    bad = ~np.isfinite(array)
    if bad.any():
        first = np.argwhere(bad)[0].tolist()
        raise ValueError(f"{name} contains {int(bad.sum())} NaN/Inf values (first at index {first})")


def check_joints(joints, min_frames: int = 2, name: str = "joints") -> np.ndarray:
    """Return ``joints`` as a float array after checking shape ``(..., T, 22, 3)``, T >= min_frames, finite."""
    array = np.asarray(joints)
    if array.ndim < 3 or array.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"{name} must have shape (T, {NUM_JOINTS}, 3), got {array.shape}")
    if array.shape[-3] < min_frames:
        raise ValueError(f"{name} needs at least {min_frames} frames, got {array.shape[-3]}")
    _finite(name, array)
    return array.astype(np.float64, copy=False)


def check_features(features, min_frames: int = 1, name: str = "features") -> np.ndarray:
    """Return ``features`` as a float array after checking shape ``(..., T, 263)``, T >= min_frames, finite."""
    array = np.asarray(features)
    if array.ndim < 2 or array.shape[-1] != FEATURE_DIM:
        raise ValueError(f"{name} must have shape (T, {FEATURE_DIM}), got {array.shape}")
    if array.shape[-2] < min_frames:
        raise ValueError(f"{name} needs at least {min_frames} frames, got {array.shape[-2]}")
    _finite(name, array)
    return array.astype(np.float64, copy=False)


def check_fps(fps) -> float:
    """Return ``fps`` as a float after checking it is a finite positive number."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise ValueError(f"fps must be a positive number, got {fps!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return value
