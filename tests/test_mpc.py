"""The MPC planner: the quality mode (``mode="mpc"``) and the fall rescue of the default mode."""

import functools

import numpy as np
import pytest

from motion_diffusion.data.procedural.generate import generate_clips
from physics_correct.controller import ControllerConfig
from physics_correct.correct import correct_joints

SEED = 0
CLIPS_SEARCHED = 90  # as in test_correct_gates: the first single-family clip of each family


@functools.cache
def _clip(family: str) -> np.ndarray:
    for clip in generate_clips(CLIPS_SEARCHED, seed=SEED):
        if clip.family == family:
            return clip.joints
    raise AssertionError(f"no {family} clip among the first {CLIPS_SEARCHED}")


def _short_walk() -> np.ndarray:
    return _clip("walk")[:30]  # 1.5 s


def test_without_noise_the_planner_changes_nothing():
    """mpc_sigma=0: every candidate is the zero offset, so the result equals the default mode's exactly."""
    clip = _short_walk()
    plain, _ = correct_joints(clip)
    mpc, report = correct_joints(clip, config=ControllerConfig(mode="mpc", mpc_sigma=0.0))
    assert report["mode"] == "mpc"
    np.testing.assert_array_equal(mpc, plain)


def test_the_mode_is_seeded_and_acts():
    """The offsets reach the simulation, and the same seed gives the same result."""
    clip = _short_walk()
    config = ControllerConfig(mode="mpc", mpc_sigma=0.03)
    first, _ = correct_joints(clip, config=config)
    again, _ = correct_joints(clip, config=config)
    other, _ = correct_joints(clip, config=config.with_options(mpc_seed=1))
    plain, _ = correct_joints(clip)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - plain).max() > 1e-4  # the offsets reach the simulation
    assert np.abs(first - other).max() > 1e-4


def test_threads_give_the_same_result():
    clip = _short_walk()
    config = ControllerConfig(mode="mpc", mpc_samples=6, mpc_sigma=0.03)
    one, _ = correct_joints(clip, config=config)
    two, _ = correct_joints(clip, config=config.with_options(mpc_threads=2))
    np.testing.assert_allclose(two, one, atol=1e-9)


def test_on_the_clean_run_it_tracks_closer_with_less_assist():
    """The issue's promise for the quality mode, on the clip the default mode tracks worst: its closed-loop
    rollouts foresee the default law, so the offsets it picks lower the joint error and the assist."""
    clip = _clip("run")
    _, default = correct_joints(clip)
    _, mpc = correct_joints(clip, config=ControllerConfig(mode="mpc"))
    assert mpc["falls"] == default["falls"] == 0
    assert mpc["mpjpe_mm"] < 0.9 * default["mpjpe_mm"]
    assert mpc["assist_mean_n"] < 0.95 * default["assist_mean_n"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mode": "qp"}, "mode must be one of"),
        ({"mode": "mpc", "mpc_samples": 1}, "mpc_samples must be >= 2"),
        ({"mode": "mpc", "mpc_replan": 0}, "mpc_replan must be a positive integer"),
        ({"mode": "mpc", "mpc_horizon": 0.0}, "mpc_horizon must be > 0"),
    ],
)
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ControllerConfig(**options)


def test_a_fall_is_rescued_by_the_planner_and_the_mpc_mode_does_not_fall():
    """The generated jump, which PD tracking alone cannot hold with the assist capped at 0.1 m g and 25 N m: with
    rescue_seconds the default mode rewinds and redoes the fall with the planner; the MPC mode keeps it upright
    throughout. How closely either then tracks the jump depends on the noise draw (30-135 mm over planner seeds;
    the unrescued run's reset to the reference makes its joint error no fair comparison), so only falls count."""
    clip = _clip("jump")
    caps = ControllerConfig(assist_force=0.1, assist_torque=25.0)
    _, unrescued = correct_joints(clip, config=caps)
    _, rescued = correct_joints(clip, config=caps.with_options(rescue_seconds=0.5))
    _, mpc = correct_joints(clip, config=caps.with_options(mode="mpc"))
    assert unrescued["falls"] > 0 and unrescued["rescues"] == 0
    assert rescued["falls"] == 0 and rescued["rescues"] >= 1
    assert mpc["falls"] == 0 and mpc["rescues"] == 0
