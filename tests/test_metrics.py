"""Physics-plausibility metrics on clips built here: clean ones, and copies with one known defect each."""

import numpy as np
import pytest

from motion_diffusion.motion.contacts import foot_contacts
from motion_diffusion.motion.skeleton import (
    FOOT_JOINTS,
    JOINT_INDEX,
    JOINT_NAMES,
    NUM_JOINTS,
    PARENTS,
    TARGET_OFFSETS,
)
from physics_correct.metrics import GRAVITY, physics_metrics, summarize

TOE_DROP = 0.055  # m, ankle above the toe joint when the foot is flat (test skeleton)
TOE_AHEAD = 0.13  # m, toe joint ahead of the ankle when the foot is flat
LEG_JOINTS = [i for i, name in enumerate(JOINT_NAMES) if name.split("_")[-1] in ("knee", "ankle", "foot")]
SIDES = {"left": 0.0, "right": 0.5}  # phase offset of each foot in the gait cycle


def rest_pose():
    """The skeleton's rest pose with the toes dropped below the ankles, pelvis at the origin."""
    pose = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        pose[j] = pose[PARENTS[j]] + TARGET_OFFSETS[j]
    for side in SIDES:
        ankle, toe = JOINT_INDEX[f"{side}_ankle"], JOINT_INDEX[f"{side}_foot"]
        length = np.linalg.norm(pose[toe] - pose[ankle])
        pose[toe] = pose[ankle] + [0.0, -TOE_DROP, np.sqrt(length**2 - TOE_DROP**2)]
    return pose


def assemble(pelvis, toes):
    """Joints (T, 22, 3): the upper body follows ``pelvis`` (T, 3), each foot its ``toes[side]`` (T, 3)."""
    rest = rest_pose()
    joints = rest[None] + pelvis[:, None]
    for side, toe in toes.items():
        ankle, foot, knee, hip = (JOINT_INDEX[f"{side}_{n}"] for n in ("ankle", "foot", "knee", "hip"))
        joints[:, foot] = toe
        joints[:, ankle] = toe + (rest[ankle] - rest[foot])
        joints[:, knee] = 0.5 * (joints[:, hip] + joints[:, ankle]) + [0.0, 0.0, 0.05]
    return joints


def standing(fps=20, seconds=3.0):
    """Standing still with a small sway of the upper body; toes exactly on the floor."""
    t = np.arange(round(seconds * fps)) / fps
    rest = rest_pose()
    height = -rest[JOINT_INDEX["left_foot"], 1] - 0.02
    pelvis = np.stack([0.01 * np.sin(np.pi * t), height + 0.005 * np.sin(2 * np.pi * t), 0 * t], axis=1)
    toes = {side: [rest[JOINT_INDEX[f"{side}_foot"], 0], 0.0, TOE_AHEAD] + 0 * pelvis for side in SIDES}
    return assemble(pelvis, toes)


def walking(fps=20, seconds=4.0, slide=0.0, period=1.0, swing=0.4, stride=1.2, lift=0.12):
    """Walking along +Z, stance feet planted with the toe at y = 0; ``slide`` (m/s) makes them drift back."""
    t = np.arange(round(seconds * fps)) / fps
    rest = rest_pose()
    height = -rest[JOINT_INDEX["left_foot"], 1] - 0.03
    pelvis = np.stack([0 * t, height + 0.01 * np.cos(4 * np.pi * t / period), stride * t / period], axis=1)
    toes = {}
    for side, offset in SIDES.items():
        cycle = t / period - offset
        k = np.floor(cycle)
        u = cycle - k  # phase in the cycle: swing for u < swing, then stance
        w = np.clip(u / swing, 0.0, 1.0)
        start = (k - 1) * stride - slide * (1 - swing) * period
        end = k * stride
        z = np.where(u < swing, start + (end - start) * (10 * w**3 - 15 * w**4 + 6 * w**5), end)
        z = z - slide * np.maximum(0.0, u - swing) * period
        y = np.where(u < swing, lift * np.sin(np.pi * w), 0.0)
        x = np.full_like(t, rest[JOINT_INDEX[f"{side}_foot"], 0])
        mid_stance = (offset + (1 + swing) / 2) * stride  # the pelvis is over the ankle in mid-stance
        toes[side] = np.stack([x, y, z + mid_stance + TOE_AHEAD], axis=1)
    return assemble(pelvis, toes)


def jump(fps=20, flight=0.4):
    """Standing, then the whole body thrown up on a parabola that leaves the floor for ``flight`` seconds."""
    joints = standing(fps=fps)
    t = np.arange(len(joints)) / fps
    takeoff = 1.0
    rise = np.clip(0.5 * GRAVITY * (t - takeoff) * (takeoff + flight - t), 0.0, None)
    return joints + rise[:, None, None] * [0.0, 1.0, 0.0]


def lifted(joints, dy):
    return joints + [0.0, dy, 0.0]


CLEAN = {"standing": standing, "walking": walking}


@pytest.mark.parametrize("name", CLEAN)
def test_clean_clip_scores_near_zero(name):
    m = physics_metrics(CLEAN[name]())
    assert m["penetration_mm"] == 0.0
    assert m["float_mm"] == 0.0
    assert m["skate_mm"] < 0.5
    assert m["skate_ratio"] == 0.0
    assert m["phys_err_mm"] == pytest.approx(m["penetration_mm"] + m["float_mm"] + m["skate_mm"])


@pytest.mark.parametrize("name", CLEAN)
def test_floating_copy_raises_float_not_penetration(name):
    clean, floating = physics_metrics(CLEAN[name]()), physics_metrics(lifted(CLEAN[name](), 0.05))
    assert 40.0 < floating["float_mm"] <= 45.0  # 5 cm minus the 5 mm tolerance, in every supported frame
    assert floating["penetration_mm"] == 0.0
    assert floating["skate_mm"] <= clean["skate_mm"] + 1e-9  # feet lifted out of the contact band


@pytest.mark.parametrize("name", CLEAN)
def test_sunk_copy_raises_penetration(name):
    m = physics_metrics(lifted(CLEAN[name](), -0.05))
    assert m["penetration_mm"] == pytest.approx(45.0, abs=0.5)
    assert m["float_mm"] == 0.0


def test_sliding_stance_feet_raise_skate():
    clean, sliding = physics_metrics(walking()), physics_metrics(walking(slide=0.8))
    # Stance feet slide 4 cm per 1/20 s frame, about half of the frames have a stance-only foot pair.
    assert sliding["skate_mm"] > 10.0 > 20 * clean["skate_mm"]
    assert sliding["skate_ratio"] > 0.5
    assert clean["skate_ratio"] == 0.0
    assert sliding["phys_err_mm"] > clean["phys_err_mm"] + 10.0


@pytest.mark.parametrize("name", CLEAN)
def test_jitter_raises_jerk(name):
    clean = CLEAN[name]()
    noisy = clean + np.random.default_rng(0).normal(scale=0.015, size=clean.shape)
    assert physics_metrics(noisy)["jerk"] > 10 * physics_metrics(clean)["jerk"]


@pytest.mark.parametrize("fps", [20, 40])
def test_ballistic_jump_is_not_floating(fps):
    joints = jump(fps=fps)
    assert joints[:, list(FOOT_JOINTS), 1].min(axis=1).max() > 0.15  # the feet really leave the floor
    m = physics_metrics(joints, fps=fps)
    assert m["float_mm"] == 0.0
    assert m["penetration_mm"] == 0.0


def test_hovering_without_gravity_is_floating():
    joints = standing()
    joints[20:50] += [0.0, 0.2, 0.0]  # 1.5 s in the air at 20 cm: a ballistic flight would last 0.4 s
    assert physics_metrics(joints)["float_mm"] > 0.9 * 195.0 * 30 / len(joints)


def test_metrics_do_not_depend_on_the_frame_rate():
    for slide in (0.0, 0.3, 0.8):
        m20 = physics_metrics(walking(fps=20, slide=slide), fps=20)
        m40 = physics_metrics(walking(fps=40, slide=slide), fps=40)
        assert m40["skate_mm"] == pytest.approx(m20["skate_mm"], rel=0.1, abs=0.5)
    sliding20 = physics_metrics(walking(fps=20, slide=0.8), fps=20)
    assert physics_metrics(walking(fps=40, slide=0.8), fps=40)["skate_ratio"] == sliding20["skate_ratio"]
    # The jerk of a smooth motion is a property of the motion, not of its sampling.
    assert physics_metrics(standing(fps=40), fps=40)["jerk"] == pytest.approx(
        physics_metrics(standing(fps=20), fps=20)["jerk"], rel=0.05
    )
    # The wrong fps for the same samples changes speeds, hence the skate per 1/20 s frame.
    sliding = walking(fps=40, slide=0.8)
    assert physics_metrics(sliding, fps=20)["skate_mm"] < 0.6 * physics_metrics(sliding, fps=40)["skate_mm"]


def test_metrics_invariant_to_horizontal_moves_and_turns():
    joints = walking(slide=0.3)
    angle = 0.7
    turn = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    moved = joints @ turn.T + [2.0, 0.0, -3.0]
    for key, value in physics_metrics(joints).items():
        assert physics_metrics(moved)[key] == pytest.approx(value, rel=1e-9, abs=1e-9)


def test_foot_contacts_follow_stance_and_swing():
    joints = walking()
    contacts = foot_contacts(joints)
    assert contacts.shape == (len(joints), 4) and contacts.dtype == bool
    toe_height = joints[:, list(FOOT_JOINTS), 1]
    assert contacts[toe_height > 0.06].sum() == 0  # lifted feet are never in contact
    stance = toe_height[:, [1, 3]] == 0.0
    assert contacts[:, [1, 3]][stance].mean() > 0.9
    assert not foot_contacts(lifted(joints, 0.1)).any()


def test_summarize_takes_means():
    a, b = physics_metrics(walking()), physics_metrics(lifted(walking(), 0.05))
    summary = summarize([a, b])
    assert summary.keys() == a.keys()
    assert summary["float_mm"] == pytest.approx((a["float_mm"] + b["float_mm"]) / 2)
    with pytest.raises(ValueError, match="empty"):
        summarize([])
    with pytest.raises(ValueError, match="keys"):
        summarize([a, {"jerk": 1.0}])


@pytest.mark.parametrize(
    ("joints", "fps", "match"),
    [
        (np.zeros((10, 21, 3)), 20, "shape"),
        (np.zeros((3, 22, 3)), 20, "at least 4 frames"),
        (np.zeros((2, 10, 22, 3)), 20, "one motion"),
        (np.full((10, 22, 3), np.nan), 20, "NaN"),
        (np.zeros((10, 22, 3)), 0, "fps"),
        (np.zeros((10, 22, 3)), float("inf"), "fps"),
    ],
)
def test_bad_input_raises(joints, fps, match):
    with pytest.raises(ValueError, match=match):
        physics_metrics(joints, fps=fps)
