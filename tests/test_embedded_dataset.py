"""The embedded dataset build: a HumanML3D-layout folder that the project's own reader accepts."""

import json

import numpy as np
import pytest

from motion_diffusion.data.humanml3d import load_dataset, read_features
from motion_diffusion.data.procedural import build_dataset
from motion_diffusion.motion import Motion, Normalizer, features_to_joints
from motion_diffusion.motion.skeleton import FEATURE_DIM
from physics_correct.metrics import physics_metrics


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("embedded")
    build_dataset(root, num_clips=20, seed=7, workers=1)
    return root


def test_reader_accepts_every_split_strictly(folder):
    sizes = {}
    for split in ("train", "val", "test"):
        ds = load_dataset(folder, split, strict=True)
        assert ds.skipped == []
        names = {e.name for e in ds.entries}
        # a clip and its mirror always share a split
        assert names == {n for n in names if n.startswith("M")} | {n[1:] for n in names if n.startswith("M")}
        sizes[split] = len(names)
        for entry in ds.entries:
            assert entry.features.shape[1] == FEATURE_DIM and len(entry.captions) >= 3
    assert sizes == {"train": 32, "val": 2, "test": 6}
    summary = json.loads((folder / "dataset.json").read_text())
    assert summary["num_files"] == 40 and summary["seed"] == 7


def test_mean_std_come_from_the_train_split_only(folder):
    train = load_dataset(folder, "train")
    expected = Normalizer.fit(e.features for e in train.entries)
    np.testing.assert_allclose(train.mean, expected.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(train.std, expected.std, rtol=1e-5, atol=1e-6)


def test_mirrored_clip_is_the_mirror_of_its_twin(folder):
    name = load_dataset(folder, "train").entries[0].name.lstrip("M")
    joints = np.load(folder / "new_joints" / f"{name}.npy")
    mirrored = np.load(folder / "new_joints" / f"M{name}.npy")
    # Both are put on the same (slightly left/right asymmetric) uniform skeleton, as HumanML3D does, so the
    # mirror of one matches the other up to the 7 mm hip and 1 cm leg asymmetry of the reference skeleton.
    error = np.linalg.norm(Motion(joints).mirror().joints - mirrored, axis=-1)
    assert error.max() < 0.03 and error.mean() < 0.012
    assert np.abs(Motion(joints).joints - mirrored).max() > 0.1  # a mirror, not a copy
    texts = (folder / "texts" / f"{name}.txt").read_text()
    mirror_texts = (folder / "texts" / f"M{name}.txt").read_text()
    assert texts.count("left") == mirror_texts.count("right")


def test_stored_joints_are_recovered_from_the_features_and_physically_plausible(folder):
    for path in sorted((folder / "new_joint_vecs").glob("*.npy"))[:10]:
        features = read_features(path)
        joints = np.load(folder / "new_joints" / path.name)
        np.testing.assert_allclose(joints, features_to_joints(features), atol=1e-5)
        metrics = physics_metrics(joints)
        assert metrics["penetration_mm"] < 0.5 and metrics["skate_mm"] < 2.0 and metrics["float_mm"] < 2.0, (
            path.name,
            metrics,
        )


def test_build_is_deterministic(folder, tmp_path):
    build_dataset(tmp_path, num_clips=20, seed=7, workers=2)
    for path in sorted((folder / "new_joint_vecs").glob("*.npy")):
        np.testing.assert_array_equal(np.load(path), np.load(tmp_path / "new_joint_vecs" / path.name))
    assert (folder / "train.txt").read_text() == (tmp_path / "train.txt").read_text()


def test_too_few_clips_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 20"):
        build_dataset(tmp_path, num_clips=5)
