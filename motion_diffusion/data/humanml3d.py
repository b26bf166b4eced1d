"""Reading and writing HumanML3D-layout folders.

Layout: ``new_joint_vecs/<name>.npy`` (T, 263) features, ``texts/<name>.txt`` (one ``caption#tokens#start#end``
line per caption), ``train.txt``/``val.txt``/``test.txt`` (one name a line), ``Mean.npy``/``Std.npy``, and
optionally ``new_joints/<name>.npy`` (T, 22, 3) joints recovered from the features.

Loading follows the loaders of T2M and MDM: clips with ``min_frames <= T < max_frames`` are kept; a caption
with a non-zero ``start#end`` span describes ``features[int(start*20):int(end*20)]`` and becomes an entry of
its own when that crop also has an accepted length. Unlike those loaders, sub-span keys are deterministic
(``name#start-end``) and no error is swallowed: a malformed file raises, or in lenient mode is skipped and
counted in ``Dataset.skipped``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..motion.checks import check_features
from ..motion.files import save_npy, write_text
from ..motion.normalize import Normalizer
from ..motion.skeleton import FEATURE_DIM, FPS, MIN_FRAMES

SPLITS = ("train", "val", "test")
MAX_FRAMES_EXCLUSIVE = 200  # loaders keep clips shorter than this (then crop to skeleton.MAX_FRAMES)


class DatasetError(ValueError):
    """A malformed file in a HumanML3D-layout folder; the message names the file (and line)."""


@dataclass(frozen=True)
class Caption:
    text: str
    tokens: tuple[str, ...]
    start: float = 0.0  # seconds; start == end == 0 means the whole clip
    end: float = 0.0

    @property
    def whole_clip(self) -> bool:
        return self.start == 0.0 and self.end == 0.0

    def to_line(self) -> str:
        return f"{self.text}#{' '.join(self.tokens)}#{self.start:g}#{self.end:g}"


@dataclass
class Entry:
    """One training item: features (un-normalised) and the captions that describe exactly these frames."""

    key: str
    name: str
    features: np.ndarray
    captions: list[Caption]


@dataclass
class Dataset:
    root: Path
    split: str
    entries: list[Entry]
    normalizer: Normalizer | None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) in lenient mode

    @property
    def mean(self) -> np.ndarray | None:
        return None if self.normalizer is None else self.normalizer.mean

    @property
    def std(self) -> np.ndarray | None:
        return None if self.normalizer is None else self.normalizer.std

    def __len__(self) -> int:
        return len(self.entries)


def parse_caption_line(line: str, where: str) -> Caption:
    """Parse ``caption#word/POS word/POS ...#start#end``; ``where`` (file:line) goes into the error."""
    parts = line.rstrip("\n").split("#")
    if len(parts) != 4:
        raise DatasetError(f"{where}: expected 'caption#tokens#start#end' (4 fields), got {len(parts)}")
    text, tokens, start, end = parts
    if not text.strip():
        raise DatasetError(f"{where}: empty caption")
    try:
        start_s, end_s = float(start), float(end)
    except ValueError:
        raise DatasetError(f"{where}: start/end must be numbers, got {start!r} and {end!r}") from None
    # HumanML3D writes NaN spans for whole-clip captions in a few files; its loaders read them as 0.
    start_s = 0.0 if math.isnan(start_s) else start_s
    end_s = 0.0 if math.isnan(end_s) else end_s
    if start_s < 0 or end_s < 0 or (end_s < start_s):
        raise DatasetError(f"{where}: bad span {start_s}..{end_s}")
    return Caption(text.strip(), tuple(tokens.split()), start_s, end_s)


def read_captions(path) -> list[Caption]:
    """All captions of one ``texts/<name>.txt`` file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: caption file is missing")
    lines = path.read_text(encoding="utf-8").splitlines()
    captions = [parse_caption_line(line, f"{path}:{i + 1}") for i, line in enumerate(lines) if line.strip()]
    if not captions:
        raise DatasetError(f"{path}: no caption in the file")
    return captions


def read_features(path) -> np.ndarray:
    """One ``new_joint_vecs/<name>.npy`` file as float32 ``(T, 263)``, checked for width and NaN rows."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: feature file is missing")
    try:
        features = np.load(path)
    except Exception as err:
        raise DatasetError(f"{path}: cannot read as .npy ({err})") from None
    if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
        raise DatasetError(f"{path}: features must have shape (T, {FEATURE_DIM}), got {features.shape}")
    bad_rows = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if bad_rows.size:
        raise DatasetError(f"{path}: NaN/Inf in {bad_rows.size} frame(s), first at frame {bad_rows[0]}")
    return features.astype(np.float32, copy=False)


def read_split(root, split: str) -> list[str]:
    """Names listed in ``<root>/<split>.txt``."""
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise DatasetError(f"{path}: split file is missing (expected one of {', '.join(SPLITS)})")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _entries_of_clip(name, features, captions, min_frames, max_frames) -> list[Entry]:
    whole = [c for c in captions if c.whole_clip]
    entries = [Entry(name, name, features, whole)] if whole else []
    for c in captions:
        if c.whole_clip:
            continue
        crop = features[int(c.start * FPS) : int(c.end * FPS)]
        if min_frames <= len(crop) < max_frames:
            entries.append(Entry(f"{name}#{c.start:g}-{c.end:g}", name, crop, [c]))
    return entries


def load_dataset(
    root,
    split: str = "train",
    strict: bool = True,
    min_frames: int = MIN_FRAMES,
    max_frames: int = MAX_FRAMES_EXCLUSIVE,
    progress: bool | None = None,
) -> Dataset:
    """Load one split of a HumanML3D-layout folder.

    :param strict: raise ``DatasetError`` on the first malformed file; otherwise skip it and record it in
        ``Dataset.skipped`` (one bad file never stops the read).
    :param progress: show a progress bar (default: for more than 2,000 clips).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    names = read_split(root, split)
    normalizer = Normalizer.load(root) if (root / "Mean.npy").is_file() else None
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    show = progress if progress is not None else len(names) > 2000
    for name in tqdm(names, desc=f"reading {split}", disable=not show, unit="clip"):
        try:
            features = read_features(root / "new_joint_vecs" / f"{name}.npy")
            if not min_frames <= len(features) < max_frames:
                continue
            captions = read_captions(root / "texts" / f"{name}.txt")
        except DatasetError as err:
            if strict:
                raise
            skipped.append((name, str(err)))
            continue
        entries.extend(_entries_of_clip(name, features, captions, min_frames, max_frames))
    if skipped:
        tqdm.write(f"{root}: skipped {len(skipped)} malformed clip(s) of split '{split}' (see Dataset.skipped)")
    return Dataset(root, split, entries, normalizer, skipped)


def write_clip(root, name: str, features, captions: Sequence[Caption], joints=None) -> None:
    """Write one clip's features, captions and (optionally) joints, each file atomically."""
    root = Path(root)
    features = check_features(features, name=f"features of {name}").astype(np.float32)
    if not captions:
        raise ValueError(f"clip {name} needs at least one caption")
    save_npy(root / "new_joint_vecs" / f"{name}.npy", features)
    if joints is not None:
        save_npy(root / "new_joints" / f"{name}.npy", np.asarray(joints, dtype=np.float32))
    write_text(root / "texts" / f"{name}.txt", "".join(c.to_line() + "\n" for c in captions))


def write_splits(root, splits: Mapping[str, Iterable[str]]) -> None:
    """Write ``<split>.txt`` files (plus ``all.txt``, the union, as HumanML3D ships it)."""
    root = Path(root)
    everything: list[str] = []
    for split, names in splits.items():
        names = list(names)
        everything.extend(names)
        write_text(root / f"{split}.txt", "".join(n + "\n" for n in names))
    write_text(root / "all.txt", "".join(n + "\n" for n in everything))


def write_dataset(
    root,
    clips: Mapping[str, tuple[np.ndarray, Sequence[Caption]]],
    splits: Mapping[str, Iterable[str]],
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
) -> None:
    """Write a whole folder: ``clips`` maps name -> (features, captions); Mean/Std default to the train split's."""
    splits = {split: list(names) for split, names in splits.items()}
    unknown = sorted({n for names in splits.values() for n in names} - set(clips))
    if unknown:
        raise ValueError(f"splits name clips that are not given: {unknown[:5]}")
    for name, (features, captions) in clips.items():
        write_clip(root, name, features, captions)
    write_splits(root, splits)
    if mean is None or std is None:
        if not splits.get("train"):
            raise ValueError("give mean and std, or a non-empty train split to compute them from")
        normalizer = Normalizer.fit(clips[n][0] for n in splits["train"])
    else:
        normalizer = Normalizer(mean, std)
    normalizer.save(root)
