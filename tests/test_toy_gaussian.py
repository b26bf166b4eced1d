"""The paper's 2-D Gaussian toy: W2 formula, both correctors, the accumulation rule, the loop and its command line."""

import json

import numpy as np
import pytest

from motion_diffusion.loop import toy


def _rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def test_w2_matches_the_closed_form_for_commuting_covariances():
    # C1 = R diag(4, 0.25) Rᵀ and C2 = R diag(1, 9) Rᵀ commute, so W2² = |Δm|² + Σ (√a − √b)²
    rot = _rotation(0.7)
    cov1, cov2 = rot @ np.diag([4.0, 0.25]) @ rot.T, rot @ np.diag([1.0, 9.0]) @ rot.T
    mean1, mean2 = np.array([1.0, -2.0]), np.array([0.0, 0.5])
    expected = np.sqrt(1.0 + 2.5**2 + (2.0 - 1.0) ** 2 + (0.5 - 3.0) ** 2)
    assert toy.gaussian_w2(mean1, cov1, mean2, cov2) == pytest.approx(expected, rel=1e-10)
    assert toy.gaussian_w2(mean2, cov2, mean1, cov1) == pytest.approx(expected, rel=1e-10)
    assert toy.gaussian_w2(mean1, cov1, mean1, cov1) == pytest.approx(0.0, abs=1e-7)


def test_w2_is_batched_and_rotation_invariant():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 2, 2))
    covs = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(2)
    means = rng.normal(size=(6, 2))
    batched = toy.gaussian_w2(means, covs, np.zeros(2), np.eye(2))
    single = [toy.gaussian_w2(m, c, np.zeros(2), np.eye(2)) for m, c in zip(means, covs, strict=True)]
    np.testing.assert_allclose(batched, single)
    rot = _rotation(1.3)  # N(0, I) is rotation invariant, so rotating one Gaussian keeps its distance
    np.testing.assert_allclose(toy.gaussian_w2(means @ rot.T, rot @ covs @ rot.T, np.zeros(2), np.eye(2)), batched)
    np.testing.assert_allclose(toy.sqrtm_psd(covs) @ toy.sqrtm_psd(covs), covs, atol=1e-12)


def test_ot_shift_endpoints_and_optimal_pairing():
    rng = np.random.default_rng(1)
    points, fresh = rng.normal(size=(25, 2)) * 2.0 + 1.0, rng.normal(size=(25, 2))
    np.testing.assert_array_equal(toy.ot_shift(points, fresh, 0.0), points)
    moved = toy.ot_shift(points, fresh, 1.0)
    order = np.lexsort(moved.T)
    np.testing.assert_array_equal(moved[order], fresh[np.lexsort(fresh.T)])  # exactly the fresh points
    cost = np.linalg.norm(points - moved, axis=1).sum()
    assert cost <= np.linalg.norm(points - fresh, axis=1).sum()  # no worse than the given pairing
    half = toy.ot_shift(points, fresh, 0.5)
    np.testing.assert_allclose(half, 0.5 * (points + moved))
    batch = toy.ot_shift(np.stack([points, points]), np.stack([fresh, fresh]), np.array([0.0, 1.0]))
    np.testing.assert_array_equal(batch[0], points)
    np.testing.assert_array_equal(batch[1], moved)


def test_mixture_resample_at_gamma_zero_is_not_the_identity_and_shrinks_variance():
    rng = np.random.default_rng(2)
    sets = rng.normal(size=(200, 25, 2))
    out = toy.mixture_resample(sets, 0.0, np.random.default_rng(3))
    assert out.shape == sets.shape and not np.allclose(out, sets)
    width = (sets.max(axis=1) - sets.min(axis=1)) / toy.HIST_BINS
    # support: the histogram range, plus one bin below it (the official lookup rounds toward zero)
    assert np.all(out >= (sets.min(axis=1) - width)[:, None]) and np.all(out <= sets.max(axis=1)[:, None])
    var_in = np.trace(np.einsum("rki,rkj->rij", *(2 * [sets - sets.mean(1, keepdims=True)])), axis1=1, axis2=2)
    var_out = np.trace(np.einsum("rki,rkj->rij", *(2 * [out - out.mean(1, keepdims=True)])), axis1=1, axis2=2)
    assert var_out.mean() < 0.8 * var_in.mean()


def test_mixture_resample_at_full_strength_draws_from_the_truth():
    far = np.random.default_rng(4).normal(size=(400, 25, 2)) * 0.1 + 5.0  # a set far from N(0, I)
    out = toy.mixture_resample(far, 1.0, np.random.default_rng(5)).reshape(-1, 2)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(np.cov(out.T), np.eye(2), atol=0.06)


def test_kept_counts_follow_the_fading_rule():
    np.testing.assert_array_equal(toy.kept_counts(1, 25), [25])
    np.testing.assert_array_equal(toy.kept_counts(4, 25), [6, 12, 18, 25])
    counts = toy.kept_counts(500, 25)
    assert counts[-1] == 25 and counts[0] == 0 and np.all(np.diff(counts) >= 0)
    assert 6000 < counts.sum() < 6400  # "about 6,000 synthetic points against 50 real ones"


@pytest.mark.parametrize("corrector", toy.CORRECTORS)
def test_stronger_correction_ends_closer_to_the_truth(corrector):
    w2 = toy.run_toy([0.0, 1.0, 5.0], corrector, seeds=8, generations=200)
    assert w2.shape == (8, 3, 201)
    final = w2[:, :, -1].mean(axis=0)
    assert final[0] > final[1] > final[2]
    assert final[2] < 0.5 * final[0]
    assert final[2] < w2[:, 2, 0].mean()  # strong correction improves on the fit to the 50 real points


def test_runs_are_seeded_and_share_the_real_data_across_gamma():
    a = toy.run_toy([0.0, 2.0], "mixture_resample", seeds=[3, 4], generations=20)
    np.testing.assert_array_equal(a, toy.run_toy([0.0, 2.0], "mixture_resample", seeds=[3, 4], generations=20))
    np.testing.assert_array_equal(a[1], toy.run_toy([0.0, 2.0], "mixture_resample", seeds=[4], generations=20)[0])
    assert not np.allclose(a[0], a[1])
    b = toy.run_toy([0.0, 2.0], "ot_shift", seeds=[3, 4], generations=20)
    np.testing.assert_array_equal(a[:, :, 0], b[:, :, 0])  # generation 0: the fit to the seed's real points
    np.testing.assert_array_equal(a[:, 0, 0], a[:, 1, 0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gammas": [0.0, -0.1]}, "gammas"),
        ({"lam": 0.0}, "lam"),
        ({"lam": -1.0}, "lam"),
        ({"n": 2}, "n"),
        ({"corrector": "nearest"}, "unknown corrector"),
        ({"generations": 0}, "generations"),
        ({"seeds": []}, "seeds"),
    ],
)
def test_bad_input_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        toy.run_toy(**{"gammas": [0.0], "seeds": 1, "generations": 2, **kwargs})


def test_cli_writes_png_json_and_markdown(tmp_path, capsys):
    toy.main(["--out", str(tmp_path), "--seeds", "2", "--generations", "4", "--no-progress"])
    assert (tmp_path / "toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((tmp_path / "toy.json").read_text())
    assert result["config"]["seeds"] == [0, 1] and result["config"]["generations"] == 4
    assert set(result["w2"]) == set(toy.CORRECTORS)
    assert set(result["w2"]["ot_shift"]) == {f"{g:g}" for g in toy.GAMMAS}
    assert len(result["w2"]["mixture_resample"]["5"]["final_per_seed"]) == 2
    table = (tmp_path / "toy.md").read_text()
    assert "| ot_shift |" in table and "| mixture_resample |" in table
    out = capsys.readouterr().out
    assert "| mixture_resample |" in out and str(tmp_path / "toy.json") in out


def test_cli_rejects_zero_seeds(tmp_path):
    with pytest.raises(SystemExit) as info:
        toy.main(["--out", str(tmp_path), "--seeds", "0", "--no-progress"])
    assert info.value.code == 2 and not (tmp_path / "toy.json").exists()
