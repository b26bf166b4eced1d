"""The Motion value type, normalisation, mirroring and resampling."""

import subprocess
import sys

import numpy as np
import pytest

from motion_diffusion.motion import Motion, Normalizer, compute_mean_std, mirror_text
from motion_diffusion.motion.skeleton import (
    FEATURE_DIM,
    FEATURE_GROUPS,
    JOINT_NAMES,
    MIRROR_PERMUTATION,
    PARENTS,
    TARGET_OFFSETS,
)


def _wavy_joints(frames=41, seed=0):
    """A smooth, non-symmetric motion: the rest skeleton swaying and walking along +Z with a left-arm wave."""
    rng = np.random.default_rng(seed)
    rest = np.zeros((22, 3))
    for j in range(1, 22):
        rest[j] = rest[PARENTS[j]] + TARGET_OFFSETS[j]
    t = np.arange(frames)[:, None] / 20.0
    joints = np.repeat(rest[None], frames, axis=0) + np.array([0.0, 0.95, 0.0])
    joints[:, :, 2] += 0.8 * t
    joints[:, :, 0] += 0.03 * np.sin(2 * np.pi * t)
    joints[:, 20, 1] += 0.3 * np.sin(3 * t[:, 0])
    return joints + 0.001 * rng.standard_normal(joints.shape)


def test_mirror_permutation_swaps_left_and_right():
    for i, j in enumerate(MIRROR_PERMUTATION):
        a, b = JOINT_NAMES[i], JOINT_NAMES[j]
        assert a.replace("left", "right") == b or a.replace("right", "left") == b or a == b


def test_mirror_twice_is_identity_and_mirror_moves_the_left_wrist_to_the_right():
    m = Motion(_wavy_joints(), text="a person waves the left hand, turning clockwise")
    once = m.mirror()
    assert once.text == "a person waves the right hand, turning counterclockwise"
    # The waving joint (left wrist, index 20) becomes the right wrist (21) on the other side of the body.
    np.testing.assert_allclose(once.joints[:, 21, 1], m.joints[:, 20, 1])
    np.testing.assert_allclose(once.joints[:, 21, 0], -m.joints[:, 20, 0])
    twice = once.mirror()
    np.testing.assert_array_equal(twice.joints, m.joints)
    assert twice.text == m.text


def test_mirror_text_keeps_case_and_word_boundaries():
    assert mirror_text("Left foot, then RIGHT? leftover") == "Right foot, then LEFT? leftover"


@pytest.mark.parametrize("fps", [30, 60, 120])
def test_resample_round_trip_and_duration(fps):
    m = Motion(_wavy_joints(61))
    up = m.resample(fps)
    assert up.fps == fps
    assert abs(up.duration - m.duration) < 1.0 / fps
    back = up.resample(20)
    assert back.num_frames == m.num_frames
    # Integer multiples of 20 fps keep the original samples exactly; 30 fps interpolates (smooth motion: < 1 mm).
    tol = 1e-9 if fps % 20 == 0 else 1e-3
    np.testing.assert_allclose(back.joints, m.joints, atol=tol)


def test_resample_interpolates_between_frames():
    joints = np.zeros((3, 22, 3))
    joints[:, :, 0] = np.array([0.0, 1.0, 2.0])[:, None]  # constant velocity along x
    up = Motion(joints).resample(60)
    np.testing.assert_allclose(up.joints[:, 0, 0], np.arange(7) / 3.0, atol=1e-12)


@pytest.mark.parametrize(
    "joints, fps, message",
    [
        (np.zeros((1, 22, 3)), 20, "at least 2 frames"),
        (np.zeros((5, 21, 3)), 20, "shape"),
        (np.full((5, 22, 3), np.nan), 20, "NaN"),
        (np.zeros((5, 22, 3)), 0, "fps"),
        (np.zeros((5, 22, 3)), -20, "fps"),
        (np.zeros((5, 22, 3)), float("inf"), "fps"),
    ],
)
def test_bad_input_raises_clear_errors(joints, fps, message):
    with pytest.raises(ValueError, match=message):
        Motion(joints, fps=fps)


def test_motion_is_read_only():
    m = Motion(_wavy_joints())
    with pytest.raises(ValueError):
        m.joints[0, 0, 0] = 1.0


def _random_features(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(rng.integers(40, 80), FEATURE_DIM)) * rng.uniform(0.5, 2.0, FEATURE_DIM) for _ in range(n)]


def test_mean_std_uses_group_averaged_std():
    clips = _random_features(5, 0)
    mean, std = compute_mean_std(clips)
    frames = np.concatenate(clips)
    np.testing.assert_allclose(mean, frames.mean(0), rtol=1e-5)
    per_dim = frames.std(0)
    for group in FEATURE_GROUPS:
        np.testing.assert_allclose(std[group], per_dim[group].mean(), rtol=1e-5)
    assert mean.dtype == np.float32 and std.dtype == np.float32


def test_normalizer_round_trip_and_persistence(tmp_path):
    clips = _random_features(4, 1)
    norm = Normalizer.fit(clips)
    x = clips[0].astype(np.float32)
    z = norm(x)
    np.testing.assert_allclose(norm.inverse(z), x, rtol=1e-5, atol=1e-5)
    norm.save(tmp_path)
    loaded = Normalizer.load(tmp_path)
    np.testing.assert_array_equal(loaded.mean, norm.mean)
    np.testing.assert_array_equal(loaded.std, norm.std)


def test_normalizer_rejects_bad_stats(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        Normalizer(np.zeros(10), np.ones(10))
    with pytest.raises(ValueError, match="positive"):
        Normalizer(np.zeros(FEATURE_DIM), np.zeros(FEATURE_DIM))
    with pytest.raises(ValueError, match="Mean.npy"):
        Normalizer.load(tmp_path)
    with pytest.raises(ValueError, match="zero variance"):
        compute_mean_std([np.zeros((10, FEATURE_DIM))])


def test_importing_the_motion_package_and_physics_correct_does_not_import_torch():
    code = (
        "import sys, motion_diffusion, motion_diffusion.motion, physics_correct;"
        "from motion_diffusion.motion import Motion;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
