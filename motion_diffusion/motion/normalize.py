"""Feature normalisation with HumanML3D's Mean/Std convention, computed once from a training split and frozen."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .checks import check_features
from .files import save_npy
from .skeleton import FEATURE_DIM, FEATURE_GROUPS


def compute_mean_std(features: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over all frames of ``features`` (each ``(T, 263)``), std averaged per feature group.

    HumanML3D replaces the per-dimension std of each group (root yaw velocity, root xz velocity, root height,
    ric positions, 6D rotations, local velocities, foot contacts) by the group's average std.
    """
    clips = [check_features(f, name=f"features[{i}]") for i, f in enumerate(features)]
    if not clips:
        raise ValueError("compute_mean_std needs at least one clip of features")
    frames = np.concatenate(clips, axis=0)
    mean = frames.mean(axis=0)
    std = frames.std(axis=0)
    for group in FEATURE_GROUPS:
        std[group] = std[group].mean()
        if std[group][0] <= 0:
            raise ValueError(
                f"feature group {group.start}:{group.stop} has zero variance over the clips given; "
                "Mean/Std need a training split with varied motions"
            )
    return mean.astype(np.float32), std.astype(np.float32)


class Normalizer:
    """z-normalisation ``(x - mean) / std`` with the frozen Mean/Std of a dataset."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        mean = np.asarray(mean, dtype=np.float32)
        std = np.asarray(std, dtype=np.float32)
        if mean.shape != (FEATURE_DIM,) or std.shape != (FEATURE_DIM,):
            raise ValueError(f"Mean and Std must have shape ({FEATURE_DIM},), got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
            raise ValueError("Mean must be finite and Std finite and positive in every dimension")
        self.mean = mean
        self.std = std

    @classmethod
    def fit(cls, features: Iterable[np.ndarray]) -> Normalizer:
        """Build from training features with HumanML3D's convention (see ``compute_mean_std``)."""
        return cls(*compute_mean_std(features))

    @classmethod
    def load(cls, folder) -> Normalizer:
        """Read ``Mean.npy`` and ``Std.npy`` from a HumanML3D-layout folder (or a checkpoint folder)."""
        folder = Path(folder)
        missing = [n for n in ("Mean.npy", "Std.npy") if not (folder / n).is_file()]
        if missing:
            raise ValueError(f"{folder} has no {' or '.join(missing)}: compute them from the train split first")
        return cls(np.load(folder / "Mean.npy"), np.load(folder / "Std.npy"))

    def save(self, folder) -> None:
        """Write ``Mean.npy`` and ``Std.npy`` into ``folder`` (atomically)."""
        folder = Path(folder)
        save_npy(folder / "Mean.npy", self.mean)
        save_npy(folder / "Std.npy", self.std)

    def __call__(self, features):
        """Normalise features of shape ``(..., 263)`` (numpy or torch)."""
        return (features - self._like(self.mean, features)) / self._like(self.std, features)

    def inverse(self, features):
        """Undo the normalisation."""
        return features * self._like(self.std, features) + self._like(self.mean, features)

    @staticmethod
    def _like(stat: np.ndarray, features):
        if isinstance(features, np.ndarray):
            return stat
        # A torch tensor: match its device and dtype without importing torch here.
        return features.new_tensor(stat)
