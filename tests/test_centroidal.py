"""The centroidal projection of the reference (``physics_correct.controller.centroidal``) on generated clips."""

import functools

import mujoco
import numpy as np
import pytest

from motion_diffusion.data.procedural.generate import generate_clips
from physics_correct import humanoid
from physics_correct.controller import ControllerConfig
from physics_correct.controller.centroidal import feasible_reference, offsets
from physics_correct.correct import _default_model, correct_joints, plan_motion
from physics_correct.metrics import GRAVITY
from physics_correct.retarget import Reference

CLIPS_SEARCHED = 90
ASSIST = (humanoid.ASSIST_FORCE_CAP * humanoid.body_weight(_default_model()), humanoid.ASSIST_TORQUE_CAP)  # N, N m


@functools.cache
def _clip(family: str) -> np.ndarray:
    for clip in generate_clips(CLIPS_SEARCHED, seed=0):
        if clip.family == family:
            return clip.joints
    raise AssertionError(f"no {family} clip")


@functools.cache
def _planned(family: str):
    """(model, reference as retargeted, support weights) of a clip, without the projection."""
    planned = plan_motion(_clip(family), 20.0, ControllerConfig(centroidal=False), _default_model())
    plan = planned.plan
    return planned.model, Reference(plan.qpos, plan.qvel, plan.qacc, plan.rate), plan.weights


def _com(model, qpos: np.ndarray) -> np.ndarray:
    data = mujoco.MjData(model)
    out = np.empty((len(qpos), 3))
    for k, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        out[k] = data.subtree_com[model.body("pelvis").id]
    return out


def _feet(model, qpos: np.ndarray) -> np.ndarray:
    data = mujoco.MjData(model)
    ids = [model.body(name).id for name in ("left_ankle", "right_ankle")]
    out = np.empty((len(qpos), 2, 3))
    for k, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[k] = data.xpos[ids]
    return out


def test_offsets_stay_zero_when_nothing_is_violated_and_follow_a_required_acceleration():
    dt = 1 / 60
    free = np.full(60, np.inf)
    np.testing.assert_array_equal(offsets(-free, free, dt), np.zeros(60))
    lower, upper = -free.copy(), free.copy()
    lower[20:30] = upper[20:30] = -GRAVITY  # a flight: the offset must fall at g there
    shift = offsets(lower, upper, dt)
    accel = (shift[:-2] - 2 * shift[1:-1] + shift[2:]) / dt**2
    assert np.all(np.abs(accel[19:29] + GRAVITY) < 0.3 * GRAVITY), accel[19:29]
    assert np.abs(shift).max() < 0.05


def test_a_standing_clip_is_left_alone():
    model, reference, weights = _planned("idle")
    projected, shift = feasible_reference(model, reference, weights, *ASSIST)
    assert np.abs(shift).max() < 1e-3, np.abs(shift).max()
    np.testing.assert_allclose(projected.qpos, reference.qpos, atol=2e-3)


def test_a_jump_flies_ballistically_and_keeps_its_planted_feet():
    model, reference, weights = _planned("jump")
    projected, shift = feasible_reference(model, reference, weights, *ASSIST)
    dt = 1.0 / reference.rate
    airborne = weights.max(axis=1) == 0
    inner = airborne[1:-1] & airborne[:-2] & airborne[2:]  # steps 1..N-2 well inside a flight
    assert inner.sum() >= 10, "the clip has no flight"

    def gravity_error(qpos):
        com = _com(model, qpos)
        accel = (com[:-2, 2] - 2 * com[1:-1, 2] + com[2:, 2]) / dt**2
        return np.abs(accel + GRAVITY)[inner].mean()

    before, after = gravity_error(reference.qpos), gravity_error(projected.qpos)
    assert after < 0.5 * before, (before, after)
    planted = weights.min(axis=1) == 1.0  # both feet fully on the floor
    drift = np.linalg.norm(_feet(model, projected.qpos) - _feet(model, reference.qpos), axis=-1)[planted]
    assert drift.max() < 0.01, drift.max()
    assert np.abs(shift).max() < 0.1


@pytest.mark.parametrize("family", ["jog", "jump"])
def test_the_projection_lowers_what_the_tracked_reference_asks_beyond_the_caps(family):
    """The fraction of time the reference needs more root wrench than its contacts and the caps supply, and the
    tracking error, both drop with the projection on the generated jog and jump."""
    on = correct_joints(_clip(family), config=ControllerConfig(centroidal=True))[1]
    off = correct_joints(_clip(family), config=ControllerConfig(centroidal=False))[1]
    assert on["reference_over_cap"] < 0.8 * off["reference_over_cap"], (
        on["reference_over_cap"],
        off["reference_over_cap"],
    )
    assert on["mpjpe_mm"] <= off["mpjpe_mm"] + 2.0, (on["mpjpe_mm"], off["mpjpe_mm"])
    assert on["centroidal_shift_mm"] > 0.0 and off["centroidal_shift_mm"] == 0.0
