"""The procedural motion generator: format, captions, and physical plausibility by construction."""

import json
import re
from collections import Counter

import numpy as np
import pytest
from scipy.spatial import ConvexHull, Delaunay

from motion_diffusion.data.procedural.body import (
    GRAVITY,
    PlanBuilder,
    center_of_mass,
    realise,
    zero_moment_point,
)
from motion_diffusion.data.procedural.captions import LEXICON, POS_TAGS, describe
from motion_diffusion.data.procedural.families import BUILDERS, sample_params
from motion_diffusion.data.procedural.generate import FAMILIES, generate_clip, generate_clips
from motion_diffusion.motion.skeleton import (
    BONE_LENGTHS,
    FOOT_JOINTS,
    FPS,
    JOINT_INDEX,
    LEFT_FOOT_JOINTS,
    MAX_FRAMES,
    MIN_FRAMES,
    PARENTS,
    RIGHT_FOOT_JOINTS,
)

ON_FLOOR = 1e-3  # a foot joint lower than this is on the floor (m)
AIRBORNE = 1e-2  # all foot joints higher than this: flight
TOES = (JOINT_INDEX["left_foot"], JOINT_INDEX["right_foot"])
LEGS = [tuple(JOINT_INDEX[f"{s}_{p}"] for p in ("hip", "knee", "ankle")) for s in ("left", "right")]
STANDING_FAMILIES = ("idle", "bow", "squat", "punch", "raise_arm")
FEET = (LEFT_FOOT_JOINTS, RIGHT_FOOT_JOINTS)


@pytest.fixture(scope="module")
def clips():
    return generate_clips(60, seed=7)


def _build(family: str, seed: int = 0, **params):
    """Joints and captions of one segment of ``family`` with some parameters pinned."""
    rng = np.random.default_rng(seed)
    p = {**sample_params(FAMILIES[family], rng), **params}
    b = PlanBuilder()
    BUILDERS[family](b, rng, p)
    captions, _ = describe([(family, p)], rng)
    return realise(b.build()), captions, b


def _runs(mask):
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _facing(joints):
    across = joints[:, JOINT_INDEX["left_hip"]] - joints[:, JOINT_INDEX["right_hip"]]
    fwd = np.cross(across, [0.0, 1.0, 0.0])
    return np.unwrap(np.arctan2(fwd[:, 0], fwd[:, 2]))


def test_clip_format(clips):
    for clip in clips:
        assert clip.joints.dtype == np.float64 and clip.joints.shape[1:] == (22, 3)
        assert MIN_FRAMES <= len(clip.joints) <= MAX_FRAMES
        assert np.isfinite(clip.joints).all()
        assert np.allclose(clip.joints[0, 0, [0, 2]], 0.0)
        assert clip.family == "+".join(s["family"] for s in clip.params["segments"])
        json.dumps(clip.params)


def test_families_all_present_and_balanced(clips):
    main = Counter(clip.family.split("+")[0] for clip in clips)
    assert set(main) == set(FAMILIES) and len(FAMILIES) >= 12
    assert max(main.values()) - min(main.values()) <= 1
    chained = sum("+" in clip.family for clip in clips) / len(clips)
    assert 0.15 < chained < 0.5


def test_captions_use_the_lexicon_and_tokens_align(clips):
    for clip in clips:
        assert len(clip.captions) >= 3 and len(set(clip.captions)) == len(clip.captions)
        assert len(clip.tokens) == len(clip.captions)
        for caption, tokens in zip(clip.captions, clip.tokens, strict=True):
            assert caption == caption.lower() and "|" not in caption
            words = re.findall(r"[a-z]+", caption)
            assert len(words) == len(tokens)
            for word, token in zip(words, tokens, strict=True):
                lemma, pos = token.split("/")
                assert word in LEXICON and pos in POS_TAGS
                assert lemma == (LEXICON[word][0] if pos in ("NOUN", "VERB") and word != "left" else word)


def test_every_template_word_is_in_the_lexicon():
    rng = np.random.default_rng(0)
    for family, spec in FAMILIES.items():
        for _ in range(60):  # describe() raises on a word missing from the lexicon
            captions, tokens = describe([(family, sample_params(spec, rng))], rng)
            assert len(captions) >= 3 and all(tokens)


def test_bone_lengths_are_exact(clips):
    for clip in clips:
        bones = np.linalg.norm(clip.joints[:, 1:] - clip.joints[:, list(PARENTS[1:])], axis=-1)
        assert np.abs(bones - BONE_LENGTHS[1:]).max() < 1e-6


def test_standing_posture_has_real_body_proportions():
    """SMPL bone directions: hips below the pelvis, collars rising, shoulders sideways, head up, forward."""
    joints, _, _ = _build("idle", seed=1)
    j = joints[0] - [0.0, joints[0, list(FOOT_JOINTS), 1].min(), 0.0]  # floor at the lowest foot joint
    assert 0.93 < j[0, 1] < 0.97  # real HumanML3D data: mean root height 0.939 m
    for side, out in (("left", 1.0), ("right", -1.0)):  # the character faces +Z, its left is +X
        hip = j[JOINT_INDEX[f"{side}_hip"]] - j[0]
        assert hip[1] < -0.07 and out * hip[0] > 0.05 and abs(hip[2]) < 0.01
        collar = j[JOINT_INDEX[f"{side}_collar"]] - j[JOINT_INDEX["spine3"]]
        assert collar[1] > out * collar[0] > 0.05
        shoulder = j[JOINT_INDEX[f"{side}_shoulder"]] - j[JOINT_INDEX[f"{side}_collar"]]
        assert out * shoulder[0] > 2.5 * max(abs(shoulder[1]), abs(shoulder[2]))
    width = np.linalg.norm(j[JOINT_INDEX["left_shoulder"]] - j[JOINT_INDEX["right_shoulder"]])
    assert 0.3 < width < 0.45
    head = j[JOINT_INDEX["head"]] - j[JOINT_INDEX["neck"]]
    assert head[1] > 0.05 and head[2] > 0.03 and abs(head[0]) < 1e-9


def test_pelvis_moves_as_one_rigid_body(clips):
    """Hips and spine1 keep their distances however the pelvis turns and tilts (bows, squats)."""
    pelvis = [0, JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"], JOINT_INDEX["spine1"]]
    pairs = [(a, b) for i, a in enumerate(pelvis) for b in pelvis[i + 1 :]]
    for clip in clips:
        j = clip.joints
        distances = np.stack([np.linalg.norm(j[:, a] - j[:, b], axis=-1) for a, b in pairs], axis=1)
        assert np.ptp(distances, axis=0).max() < 1e-6, clip.family
        assert (j[:, [1, 2], 1] < j[:, :1, 1] - 0.05).all(), clip.family  # hips stay below the pelvis


def test_floor_is_at_the_lowest_joint(clips):
    for clip in clips:
        assert clip.joints[..., 1].min() >= -1e-6
        assert clip.joints[..., 1].min() < 1e-3


def test_planted_feet_do_not_slide(clips):
    checked = 0
    for clip in clips:
        feet = clip.joints[:, list(FOOT_JOINTS)]
        planted = (feet[:-1, :, 1] < ON_FLOOR) & (feet[1:, :, 1] < ON_FLOOR)
        step = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1)
        assert step[planted].max(initial=0.0) < 1e-3
        checked += planted.sum()
    assert checked > 1000


def test_no_floating_and_flight_is_ballistic(clips):
    """Whenever no foot joint touches the floor, the pelvis falls freely (second difference = -g)."""
    flights = 0
    for clip in clips:
        j = clip.joints
        off_floor = (j[1:-1, list(FOOT_JOINTS), 1] > ON_FLOOR).all(axis=1)
        accel = (j[2:, 0, 1] - 2 * j[1:-1, 0, 1] + j[:-2, 0, 1]) * FPS**2
        np.testing.assert_allclose(accel[off_floor], -GRAVITY, atol=1e-6)
        flights += ((j[:, list(FOOT_JOINTS), 1] > AIRBORNE).all(axis=1)).sum()
    assert flights > 10


def _sole_points(joints, side: str, flat_ankle: float):
    """Floor points (x, z) of the part of a sole on the floor (9 cm wide): around the toe joint when it is on
    the floor, around the heel (3 cm behind the ankle) when the ankle is as low as standing; per frame, NaN
    for a part in the air."""
    toe, ankle = joints[:, JOINT_INDEX[f"{side}_foot"]], joints[:, JOINT_INDEX[f"{side}_ankle"]]
    fwd = toe[:, [0, 2]] - ankle[:, [0, 2]]
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    lat = np.stack([fwd[:, 1], -fwd[:, 0]], axis=-1)
    heel = ankle[:, [0, 2]] - 0.03 * fwd
    parts = [
        (toe[:, 1] < ON_FLOOR, (toe[:, [0, 2]] + 0.05 * fwd, toe[:, [0, 2]] - 0.03 * fwd)),
        (ankle[:, 1] < flat_ankle + 0.005, (heel + 0.05 * fwd, heel)),
    ]
    points = []
    for down, ends in parts:
        for end in ends:
            for sign in (1, -1):
                points.append(np.where(down[:, None], end + sign * 0.045 * lat, np.nan))
    return np.stack(points, axis=1)


def _outside_support(joints):
    """Per frame with a foot on the floor and the body moving: how far (m) the zero-moment point lies
    outside the convex hull of the sole parts on the floor, times the share of the weight the feet carry (a
    moment's error)."""
    zmp = zero_moment_point(joints)
    com = center_of_mass(joints)
    load = (np.gradient(np.gradient(com[:, 1])) * FPS**2 + GRAVITY) / GRAVITY
    speed = np.linalg.norm(np.gradient(com[:, [0, 2]], axis=0), axis=-1) * FPS
    flat_ankle = joints[0, JOINT_INDEX["left_ankle"], 1]  # clips start standing
    soles = np.concatenate([_sole_points(joints, side, flat_ankle) for side in ("left", "right")], axis=1)
    errors = []
    down = (~np.isnan(soles[:, :, 0])).sum(axis=1) >= 4
    for t in np.flatnonzero(down & (speed > 0.3)):
        points = soles[t][~np.isnan(soles[t, :, 0])]
        if Delaunay(points).find_simplex(zmp[t]) >= 0:
            errors.append(0.0)
            continue
        hull = points[ConvexHull(points).vertices]
        edges = np.roll(hull, -1, axis=0) - hull
        u = np.clip(np.sum((zmp[t] - hull) * edges, axis=-1) / np.sum(edges**2, axis=-1), 0.0, 1.0)
        errors.append(np.linalg.norm(hull + u[:, None] * edges - zmp[t], axis=-1).min() * max(load[t], 0.0))
    return np.array(errors)


def test_the_zero_moment_point_stays_on_the_soles():
    """Walking and stepping ask for almost no moment the feet cannot give: the zero-moment point lies within
    about a centimetre of the soles on the floor (without the generator's dynamic filter: walk 7.9 cm on
    average, side step 2.3, walking backwards 5.9, jog 15.4); the jog comes closer than before."""
    for family, limit in (("walk", 0.015), ("side_step", 0.015), ("walk_backward", 0.015), ("jog", 0.06)):
        errors = np.concatenate(
            [
                _outside_support(generate_clip(family, np.random.default_rng(seed), chain=False).joints)
                for seed in range(3)
            ]
        )
        assert len(errors) > 50
        assert errors.mean() < limit, (family, errors.mean())


def test_zero_moment_point_of_a_still_and_of_an_accelerating_body():
    pose = generate_clip("idle", np.random.default_rng(0), chain=False).joints[:1].repeat(9, axis=0)
    np.testing.assert_allclose(zero_moment_point(pose), center_of_mass(pose)[:, [0, 2]], atol=1e-9)
    t = np.arange(9)[:, None, None] / FPS
    pushed = pose + 0.5 * 2.0 * t**2 * np.array([1.0, 0.0, 0.0])  # 2 m/s^2 along x
    height = center_of_mass(pose)[0, 1]
    expected = center_of_mass(pushed)[:, 0] - height * 2.0 / GRAVITY
    np.testing.assert_allclose(zero_moment_point(pushed)[2:-2, 0], expected[2:-2], atol=1e-9)


def _support_flags(joints):
    left = (joints[:, list(LEFT_FOOT_JOINTS), 1] < ON_FLOOR).any(axis=1)
    right = (joints[:, list(RIGHT_FOOT_JOINTS), 1] < ON_FLOOR).any(axis=1)
    return left, right


def test_walking_has_double_support_and_no_flight_running_has_flight():
    for seed in range(3):
        walk = generate_clip("walk", np.random.default_rng(seed), chain=False).joints
        left, right = _support_flags(walk)
        speed = np.linalg.norm(np.diff(walk[:, 0, [0, 2]], axis=0), axis=-1) * FPS
        moving = np.concatenate([speed > 0.5, [False]])
        assert (left & right)[moving].mean() > 0.08
        assert (left | right).all()
        run = generate_clip("run", np.random.default_rng(seed), chain=False).joints
        assert (run[:, list(FOOT_JOINTS), 1] > AIRBORNE).all(axis=1).any()


def test_cadence_and_step_length_grow_with_speed():
    def steps(speed):
        _, _, b = _build("walk", speed=speed, seconds=6.0, path="straight")
        lands = sorted(st.start for side in b.stances for st in side[1:])
        toes = [np.array([st.toe for st in side[1:-1]]) for side in b.stances]
        stride = np.median(np.concatenate([np.linalg.norm(np.diff(t, axis=0), axis=-1) for t in toes]))
        return FPS / np.median(np.diff(lands)), stride

    slow_cadence, slow_stride = steps(0.85)
    fast_cadence, fast_stride = steps(1.55)
    assert fast_cadence > slow_cadence * 1.15
    assert fast_stride > slow_stride * 1.3


def test_walking_pelvis_bobs_sways_and_arms_swing_in_opposition():
    joints, _, _ = _build("walk", speed=1.3, seconds=6.0, path="straight")
    middle = slice(40, len(joints) - 40)
    pelvis = joints[middle, 0]
    assert 0.015 < np.ptp(pelvis[:, 1]) < 0.10
    left, right = _support_flags(joints[middle])
    lateral = pelvis[:, 0] - 0.5 * (joints[middle, TOES[0], 0] + joints[middle, TOES[1], 0])
    assert lateral[left & ~right].mean() > 0.005 > -0.005 > lateral[right & ~left].mean()
    ahead = joints[middle, :, 2]
    feet = ahead[:, TOES[1]] - ahead[:, TOES[0]]  # right foot ahead of the left
    arms = ahead[:, JOINT_INDEX["left_wrist"]] - ahead[:, JOINT_INDEX["right_wrist"]]
    assert np.corrcoef(feet, arms)[0, 1] > 0.7 and np.ptp(arms) > 0.2


def test_swing_toes_clear_the_floor(clips):
    swings = 0
    for clip in clips:
        for toe in TOES:
            for start, stop in _runs(clip.joints[:, toe, 1] > ON_FLOOR):
                if stop - start >= 6:  # the middle half of each swing
                    quarter = (stop - start) // 4
                    assert clip.joints[start + quarter : stop - quarter, toe, 1].min() >= 0.03
                    swings += 1
    assert swings > 100


def test_knees_never_hyperextend(clips):
    for clip in clips:
        j = clip.joints
        lateral = j[:, JOINT_INDEX["left_hip"]] - j[:, JOINT_INDEX["right_hip"]]
        for hip, knee, ankle in LEGS:
            flexion = np.cross(j[:, knee] - j[:, hip], j[:, ankle] - j[:, knee])
            assert (np.sum(flexion * lateral, axis=-1) > -1e-9).all()


def test_standing_keeps_the_centre_of_mass_over_the_support():
    for family in STANDING_FAMILIES + ("kick",):
        joints, _, _ = _build(family, seed=3)
        com = center_of_mass(joints)[:, [0, 2]]
        left, right = _support_flags(joints)
        a, b = (joints[:, list(foot)][:, :, [0, 2]].mean(axis=1) for foot in FEET)
        t = np.clip(np.sum((com - a) * (b - a), axis=-1) / np.sum((b - a) ** 2, axis=-1), 0.0, 1.0)
        between = np.linalg.norm(com - (a + t[:, None] * (b - a)), axis=-1)
        assert between[left & right].max() < 0.03, family  # feet joints vs sole centre: ~1.5 cm
        if family == "kick":
            over_stance = np.linalg.norm(com - np.where(left[:, None], a, b), axis=-1)
            assert (left ^ right).any() and over_stance[left ^ right].max() < 0.03


def test_turning_left_rotates_towards_plus_x():
    joints, captions, _ = _build("turn", side="left", angle_deg=90.0)
    yaw = _facing(joints)
    assert yaw[0] == pytest.approx(0.0, abs=0.05)
    assert np.degrees(yaw[-1] - yaw[0]) == pytest.approx(90.0, abs=3.0)
    assert all("left" in c or "counterclockwise" in c for c in captions)
    joints, _, _ = _build("walk", side="right", path="turn", turn_deg=90.0)
    assert np.degrees(_facing(joints)[-1]) == pytest.approx(-90.0, abs=3.0)


def test_left_limbs_follow_the_caption():
    joints, captions, _ = _build("raise_arm", side="left", direction="up", count=1)
    wrists = joints[:, [JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]], 1]
    assert wrists[:, 0].max() > joints[:, JOINT_INDEX["head"], 1].max() > wrists[:, 1].max()
    assert all("left" in c for c in captions)
    joints, captions, _ = _build("kick", side="left", count=1)
    assert joints[:, JOINT_INDEX["left_foot"], 1].max() > 0.2
    assert joints[:, JOINT_INDEX["right_foot"], 1].max() < ON_FLOOR
    assert all("left" in c for c in captions)


def test_deterministic_for_a_seed_and_varied_across_seeds():
    first, again, other = generate_clips(4, seed=3), generate_clips(4, seed=3), generate_clips(4, seed=4)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.joints, b.joints) and a.captions == b.captions and a.params == b.params
    assert any(a.params != c.params for a, c in zip(first, other, strict=True))


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="non-negative integer"):
        generate_clips(-1)
    with pytest.raises(ValueError, match="unknown motion family"):
        generate_clip("moonwalk", np.random.default_rng(0))
