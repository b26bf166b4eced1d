"""The standard metrics on synthetic embeddings whose answer is known."""

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.special import gammaln

from motion_diffusion.evaluator.metrics import (
    CI_Z,
    POOL_SIZE,
    diversity,
    draw_rng,
    fid,
    matching_score,
    multimodality,
    r_precision,
    repeat_draws,
    summarize,
)


def _gaussian(n, dim, seed, mean=0.0, scale=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    return x * (np.ones(dim) if scale is None else scale) + mean


def test_fid_of_identical_gaussians_is_near_zero_and_a_mean_shift_gives_its_square():
    a, b = _gaussian(20000, 8, 0), _gaussian(20000, 8, 1)
    assert fid(a, b) < 0.01
    shift = np.zeros(8)
    shift[[0, 3]] = 3.0 / np.sqrt(2)  # |shift| = 3
    assert fid(a, b + shift) == pytest.approx(9.0, abs=0.1)


def test_fid_matches_the_textbook_formula_and_is_symmetric():
    a = _gaussian(500, 6, 2, scale=np.linspace(0.5, 2, 6))
    b = _gaussian(400, 6, 3, mean=0.3) @ np.random.default_rng(4).normal(size=(6, 6))
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert fid(a, b) == pytest.approx(expected, rel=1e-6)
    assert fid(b, a) == pytest.approx(expected, rel=1e-6)
    # independent diagonal Gaussians: sum of (sqrt(v1) - sqrt(v2))^2
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    big1, big2 = _gaussian(200000, 3, 5, scale=np.sqrt(v1)), _gaussian(200000, 3, 6, scale=np.sqrt(v2))
    assert fid(big1, big2) == pytest.approx(np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2), abs=0.1)


def test_r_precision_is_one_for_matched_pairs_and_chance_for_random_ones():
    rng = np.random.default_rng(0)
    motion = _gaussian(POOL_SIZE * 10, 16, 1)
    hits, matching = r_precision(motion.copy(), motion, rng)
    np.testing.assert_allclose(hits, [1.0, 1.0, 1.0])
    assert matching == 0.0
    text = _gaussian(POOL_SIZE * 400, 16, 2)
    hits, _ = r_precision(text, _gaussian(POOL_SIZE * 400, 16, 3), rng)
    np.testing.assert_allclose(hits, np.arange(1, 4) / POOL_SIZE, atol=0.01)


def test_a_collapsed_set_scores_chance_not_perfect_r_precision():
    text = _gaussian(POOL_SIZE * 3, 8, 0)
    collapsed = np.ones_like(text)
    hits, _ = r_precision(text, collapsed, np.random.default_rng(0))
    np.testing.assert_allclose(hits, np.arange(1, 4) / POOL_SIZE)


def test_matching_score_is_the_paired_distance():
    motion = _gaussian(POOL_SIZE * 2, 5, 0)
    offset = np.array([0.0, 3.0, 0.0, 4.0, 0.0])  # norm 5
    assert matching_score(motion + offset, motion) == pytest.approx(5.0)
    _, matching = r_precision(motion + offset, motion, np.random.default_rng(0))
    assert matching == pytest.approx(5.0)


def test_r_precision_uses_full_pools_drawn_from_a_shuffled_order():
    text = _gaussian(POOL_SIZE * 2 + 5, 4, 0)
    motion = text + 0.5 * _gaussian(len(text), 4, 1)
    a = r_precision(text, motion, np.random.default_rng(1))
    b = r_precision(text, motion, np.random.default_rng(1))
    c = r_precision(text, motion, np.random.default_rng(2))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1] and a[1] != c[1]  # different pools leave different items out
    with pytest.raises(ValueError, match="at least one pool of 32"):
        r_precision(text[:31], motion[:31], np.random.default_rng(0))


def test_diversity_is_the_mean_pair_distance():
    x = _gaussian(20000, 16, 0)
    # E|x - y| for independent standard normals: sqrt(2) * E[chi_16]
    expected = np.sqrt(2) * np.sqrt(2) * np.exp(gammaln(8.5) - gammaln(8))
    values = [diversity(x, draw_rng(0, r)) for r in range(20)]
    assert np.mean(values) == pytest.approx(expected, rel=0.03)
    assert diversity(np.ones((300, 4)), np.random.default_rng(0)) == 0.0
    scaled = diversity(3 * x, np.random.default_rng(5))
    assert scaled == pytest.approx(3 * diversity(x, np.random.default_rng(5)))
    with pytest.raises(ValueError, match="300 distinct motions"):
        diversity(x[:299], np.random.default_rng(0))


def test_multimodality_measures_spread_within_each_caption():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 1, 6)) * 100  # far apart captions must not matter
    same = np.repeat(centres, 30, axis=1)
    assert multimodality(same, np.random.default_rng(0)) == 0.0
    spread = rng.normal(size=(10, 30, 6))
    a = multimodality(same + spread, np.random.default_rng(1))
    b = multimodality(same + 2 * spread, np.random.default_rng(1))
    assert b == pytest.approx(2 * a) and a > 1.0
    with pytest.raises(ValueError, match="10 distinct samples"):
        multimodality(same[:, :9], np.random.default_rng(0))


def test_repeated_draws_are_seeded_and_report_a_95_percent_interval():
    x = _gaussian(1000, 8, 0)

    def draw(rng):
        return {"diversity": diversity(x, rng), "first": float(rng.random())}

    one, two, other = (repeat_draws(draw, 10, seed=s) for s in (3, 3, 4))
    assert one == two and one["first"].values != other["first"].values
    values = np.array(one["diversity"].values)
    assert one["diversity"].mean == pytest.approx(values.mean())
    assert one["diversity"].ci == pytest.approx(CI_Z * values.std() / np.sqrt(10))


def test_nan_embeddings_and_mismatched_sets_are_refused():
    text = _gaussian(64, 4, 0)
    bad = text.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        r_precision(text, bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        fid(text, bad)
    with pytest.raises(ValueError, match="pair up"):
        r_precision(text, text[:, :3], np.random.default_rng(0))
    with pytest.raises(ValueError, match="one width"):
        fid(text, text[:, :3])
    with pytest.raises(ValueError, match="never averaged"):
        summarize([1.0, float("nan")])
