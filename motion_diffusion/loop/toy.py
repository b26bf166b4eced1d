"""The paper's 2-D Gaussian toy: a self-consuming loop with an idealised corrector of strength γ.

``python -m motion_diffusion.loop.toy --out DIR [--seeds 5] [--generations 500]`` writes ``toy.png``, ``toy.json``
and ``toy.md`` into DIR (notes: reference/paper.md §2.2, §2.5, §3.1; official ``exp_scripts/gaussian_toy_example.py``).

The loop, as the official code runs it, with one seed per run (the official code is unseeded):

- Truth N(0, I_2); ``n`` real points, drawn once per seed (shared by every γ and corrector, so they compare paired).
- Model: one full-covariance Gaussian fitted by maximum likelihood (mean and biased covariance, what a
  1-component ``GaussianMixture`` gives, without its 1e-6 diagonal regulariser), refitted from scratch each generation.
- Each generation draws ``k = int(lam * n)`` synthetic points from the model, corrects them with strength
  t = γ/(1+γ) and keeps the corrected set. Accumulation, our reading of the official rule: after generation g
  (g sets stored, set i = 0..g-1 oldest first) the refit uses all real points plus the first
  ⌊(i+1)·k/g⌋ points of set i, so the newest set counts fully and older ones fade (≈ k(g+1)/2 synthetic points in
  all). We floor in integers; the official ``int((i+1)/g*k)`` in floating point can be one point lower when
  (i+1)·k/g is a whole number.
- Metric: the closed-form Wasserstein-2 distance between the fitted Gaussian and N(0, I), at generation 0 (fit on
  the real points alone) and after every generation.

Correctors (``CORRECTORS``):

- ``ot_shift`` (original, March 2024, the project-page figure): draw k fresh points from N(0, I), pair them with the
  synthetic points by optimal assignment under Euclidean cost, move each synthetic point a fraction t toward its
  partner. t = 0 is the identity, t = 1 replaces the set by the fresh points.
- ``mixture_resample`` (current, May 2024): a 10×10 histogram density of the k synthetic points over their range,
  then k replacement points by rejection sampling with proposal N(0, I) from (1−t)·histogram + t·N(0, I). Like the
  official code it bounds the ratio target/proposal by M = ((1−t)·max histogram + t·φ(0)) / φ(0), which is not an
  upper bound in the Gaussian's tails; there the acceptance saturates, so the draw follows min(target, M·φ) rather
  than the target, pulling points toward the origin. Also like the official code, a proposal's bin is found with
  ``int((x − lo)/width)``, which rounds toward zero, so the first bin of each axis also covers one bin width below
  the range (with a true floor the γ = 0 collapse is stronger: W2 ≈ 0.66 instead of 0.58 at generation 500, 20 seeds).
  Even at γ = 0 this corrector is therefore NOT the identity: the histogram is truncated to (about) the range of
  the synthetic points and its tails are clipped, which shrinks the variance generation after generation (the
  collapse the γ = 0 curve shows).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm.auto import tqdm

from ..motion.files import atomic_open, write_text

GAMMAS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 5.0)
CORRECTORS = ("ot_shift", "mixture_resample")
DIM = 2
DEFAULT_N = 50
DEFAULT_LAM = 0.5
DEFAULT_GENERATIONS = 500
DEFAULT_SEEDS = 5
HIST_BINS = 10
MIN_REAL = 3  # a full 2-D covariance needs at least 3 points
PROPOSALS_PER_POINT = 8  # rejection-sampling batch size, per point still missing
GAUSS_PEAK = 1.0 / (2.0 * np.pi)  # density of N(0, I_2) at the origin


def correction_fraction(gamma):
    """t = γ/(1+γ): the weight of the true distribution in the corrected mixture π_γ."""
    gamma = np.asarray(gamma, dtype=float)
    return gamma / (1.0 + gamma)


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Matrix square root of symmetric positive semi-definite matrices ``(..., d, d)`` (by eigendecomposition)."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(v, -1, -2)


def gaussian_w2(mean1, cov1, mean2, cov2) -> np.ndarray:
    """Wasserstein-2 distance between N(mean1, cov1) and N(mean2, cov2), batched over leading axes.

    Bures formula: W2² = |m1 − m2|² + tr(C1 + C2 − 2 (C2^½ C1 C2^½)^½).
    """
    mean1, cov1, mean2, cov2 = (np.asarray(x, dtype=float) for x in (mean1, cov1, mean2, cov2))
    root2 = sqrtm_psd(cov2)
    cross = sqrtm_psd(root2 @ cov1 @ root2)
    w2_sq = np.sum((mean1 - mean2) ** 2, axis=-1) + np.trace(cov1 + cov2 - 2.0 * cross, axis1=-2, axis2=-1)
    return np.sqrt(np.clip(w2_sq, 0.0, None))


def ot_shift(points, fresh, t) -> np.ndarray:
    """Move each point a fraction ``t`` toward its partner in ``fresh`` under the optimal (Euclidean) assignment.

    ``points`` and ``fresh`` are ``(k, 2)`` or a batch ``(R, k, 2)``; ``t`` is a scalar or one value per set.
    """
    points, fresh = np.asarray(points, dtype=float), np.asarray(fresh, dtype=float)
    if points.shape != fresh.shape or points.shape[-1] != DIM:
        raise ValueError(
            f"points and fresh must both be (k, {DIM}) or (R, k, {DIM}), got {points.shape}, {fresh.shape}"
        )
    batch, fresh_b = points.reshape(-1, *points.shape[-2:]), fresh.reshape(-1, *fresh.shape[-2:])
    cost = np.linalg.norm(batch[:, :, None] - fresh_b[:, None], axis=-1)
    partners = np.stack([f[linear_sum_assignment(c)[1]] for f, c in zip(fresh_b, cost, strict=True)])
    t = np.broadcast_to(np.asarray(t, dtype=float), batch.shape[:1])[:, None, None]
    return ((1.0 - t) * batch + t * partners).reshape(points.shape)


def _histograms(points: np.ndarray, bins: int):
    """Per set ``(R, k, 2)``: lower edges ``(R, 2)``, bin widths ``(R, 2)`` and densities ``(R, bins, bins)``."""
    runs, k, _ = points.shape
    lo, hi = points.min(axis=1), points.max(axis=1)
    flat = hi == lo  # numpy's histogram2d widens a zero range to ±0.5
    lo, hi = np.where(flat, lo - 0.5, lo), np.where(flat, hi + 0.5, hi)
    width = (hi - lo) / bins
    cell = np.minimum(((points - lo[:, None]) / width[:, None]).astype(int), bins - 1)  # the maximum joins the last bin
    index = (np.arange(runs)[:, None] * bins + cell[..., 0]) * bins + cell[..., 1]
    counts = np.bincount(index.ravel(), minlength=runs * bins * bins).reshape(runs, bins, bins)
    return lo, width, counts / (k * width.prod(axis=1))[:, None, None]


def mixture_resample(points, t, rng: np.random.Generator, bins: int = HIST_BINS) -> np.ndarray:
    """Replace each set by as many draws from (1−t)·histogram(set) + t·N(0, I), by rejection sampling from N(0, I).

    ``points`` is ``(k, 2)`` or a batch ``(R, k, 2)``; ``t`` a scalar or one value per set. The bound M is the
    official one (see the module docstring), so the tails follow min(target, M·φ).
    """
    points = np.asarray(points, dtype=float)
    if points.ndim not in (2, 3) or points.shape[-1] != DIM:
        raise ValueError(f"points must be (k, {DIM}) or (R, k, {DIM}), got {points.shape}")
    batch = points.reshape(-1, *points.shape[-2:])
    runs, k, _ = batch.shape
    t = np.broadcast_to(np.asarray(t, dtype=float), (runs,))
    lo, width, density = _histograms(batch, bins)
    bound = ((1.0 - t) * density.max(axis=(1, 2)) + t * GAUSS_PEAK) / GAUSS_PEAK
    out = np.empty_like(batch)
    filled = np.zeros(runs, dtype=int)
    while (todo := np.flatnonzero(filled < k)).size:
        size = PROPOSALS_PER_POINT * int((k - filled[todo]).max())
        z = rng.standard_normal((todo.size, size, DIM))
        u = rng.random((todo.size, size))
        cell = np.trunc((z - lo[todo, None]) / width[todo, None])  # official lookup: rounds toward zero
        inside = np.all((cell >= 0) & (cell < bins), axis=-1)
        cell = np.clip(cell, 0, bins - 1).astype(int)
        hist = np.where(inside, density[todo[:, None], cell[..., 0], cell[..., 1]], 0.0)
        phi = GAUSS_PEAK * np.exp(-0.5 * np.sum(z**2, axis=-1))
        target = (1.0 - t[todo, None]) * hist + t[todo, None] * phi
        accepted = u * bound[todo, None] * phi < target
        for row, run in enumerate(todo):
            take = z[row, accepted[row]][: k - filled[run]]
            out[run, filled[run] : filled[run] + len(take)] = take
            filled[run] += len(take)
    return out.reshape(points.shape)


def _correct(corrector: str, synthetic: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if corrector == "ot_shift":
        return ot_shift(synthetic, rng.standard_normal(synthetic.shape), t)
    return mixture_resample(synthetic, t, rng)


def kept_counts(stored: int, k: int) -> np.ndarray:
    """How many leading points of each stored set (oldest first) the refit uses when ``stored`` sets exist."""
    return (np.arange(1, stored + 1) * k) // stored


def _moments(points: np.ndarray):
    """Sums of x and of x xᵀ over the point axis (-2)."""
    return points.sum(axis=-2), np.einsum("...ki,...kj->...ij", points, points)


def _run_seed(gammas: np.ndarray, corrector: str, seed: int, generations: int, n: int, k: int, bar) -> np.ndarray:
    """W2 curves ``(len(gammas), generations + 1)`` of one seed, all γ advanced together."""
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, DIM))
    t = correction_fraction(gammas)
    runs = len(gammas)
    # prefix[:, i, j] = moments of the first j points of set i (set i made in generation i + 1)
    prefix1 = np.zeros((runs, generations, k + 1, DIM))
    prefix2 = np.zeros((runs, generations, k + 1, DIM, DIM))
    real1, real2 = _moments(real)
    means = np.empty((runs, generations + 1, DIM))
    covs = np.empty((runs, generations + 1, DIM, DIM))
    means[:, 0] = real1 / n
    covs[:, 0] = real2 / n - np.outer(means[0, 0], means[0, 0])
    for g in range(generations):
        chol = np.linalg.cholesky(covs[:, g])
        synthetic = means[:, g, None] + rng.standard_normal((runs, k, DIM)) @ np.swapaxes(chol, -1, -2)
        corrected = _correct(corrector, synthetic, t, rng)
        prefix1[:, g, 1:] = np.cumsum(corrected, axis=1)
        prefix2[:, g, 1:] = np.cumsum(corrected[..., :, None] * corrected[..., None, :], axis=1)
        stored = np.arange(g + 1)
        used = kept_counts(g + 1, k)
        total = n + used.sum()
        mean = (real1 + prefix1[:, stored, used].sum(axis=1)) / total
        means[:, g + 1] = mean
        covs[:, g + 1] = (real2 + prefix2[:, stored, used].sum(axis=1)) / total - mean[:, :, None] * mean[:, None, :]
        bar.update()
    return gaussian_w2(means, covs, np.zeros(DIM), np.eye(DIM))


def check_toy_args(gammas, corrector: str, generations: int, n: int, lam: float) -> int:
    """Validate the toy's settings; returns k, the number of synthetic points per generation."""
    if corrector not in CORRECTORS:
        raise ValueError(f"unknown corrector {corrector!r}; choose one of {list(CORRECTORS)}")
    gammas = np.asarray(gammas, dtype=float)
    if gammas.ndim != 1 or gammas.size == 0 or not np.all(np.isfinite(gammas)) or np.any(gammas < 0):
        raise ValueError(f"gammas must be a non-empty list of finite values >= 0, got {gammas.tolist()}")
    if n < MIN_REAL:
        raise ValueError(f"n (real points) must be >= {MIN_REAL} to fit a 2-D covariance, got {n}")
    if not lam > 0:
        raise ValueError(f"lam (synthetic-to-real ratio) must be > 0, got {lam}")
    k = int(lam * n)
    if k < 1:
        raise ValueError(f"lam * n = {lam * n} gives no synthetic point per generation; raise lam or n")
    if generations < 1:
        raise ValueError(f"generations must be >= 1, got {generations}")
    return k


def _seed_list(seeds) -> list[int]:
    seeds = list(range(seeds)) if isinstance(seeds, int | np.integer) else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must be a positive count or a non-empty list of seeds")
    return seeds


def run_toy(
    gammas: Sequence[float] = GAMMAS,
    corrector: str = "ot_shift",
    seeds: int | Iterable[int] = DEFAULT_SEEDS,
    generations: int = DEFAULT_GENERATIONS,
    n: int = DEFAULT_N,
    lam: float = DEFAULT_LAM,
    progress: bool = False,
) -> np.ndarray:
    """Run the toy loop; returns W2 to N(0, I) per generation, ``(seeds, gammas, generations + 1)``.

    ``seeds`` is a count (seeds 0..count-1) or a list of seeds. Same arguments, same result.
    """
    k = check_toy_args(gammas, corrector, generations, n, lam)
    seeds = _seed_list(seeds)
    gammas = np.asarray(gammas, dtype=float)
    with tqdm(total=len(seeds) * generations, desc=corrector, unit="gen", disable=not progress) as bar:
        return np.stack([_run_seed(gammas, corrector, s, generations, n, k, bar) for s in seeds])


def _gamma_key(gamma: float) -> str:
    return f"{gamma:g}"


def _seed_std(w2: np.ndarray) -> np.ndarray:
    """Standard deviation over the seed axis (0): ddof 1, or 0 for a single seed."""
    return w2.std(axis=0, ddof=1 if w2.shape[0] > 1 else 0)


def summarize(curves: dict[str, np.ndarray], gammas: Sequence[float]) -> dict:
    """Mean and std (over seeds, ddof 1) of W2 at the last and at the first generation, per corrector and γ."""
    summary = {}
    for name, w2 in curves.items():
        summary[name] = {
            _gamma_key(g): {
                "final_mean": float(w2[:, j, -1].mean()),
                "final_std": float(_seed_std(w2[:, j, -1])),
                "final_per_seed": w2[:, j, -1].tolist(),
                "initial_mean": float(w2[:, j, 0].mean()),
            }
            for j, g in enumerate(gammas)
        }
    return summary


def format_table(summary: dict, gammas: Sequence[float]) -> str:
    """Markdown table of mean ± std W2 at the last generation: one row per corrector, one column per γ."""
    keys = [_gamma_key(g) for g in gammas]
    lines = ["| corrector | " + " | ".join(f"γ = {key}" for key in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, per_gamma in summary.items():
        cells = [f"{per_gamma[key]['final_mean']:.3f} ± {per_gamma[key]['final_std']:.3f}" for key in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_toy(curves: dict[str, np.ndarray], gammas: Sequence[float], path) -> None:
    """PNG of mean W2 vs generation, one line per γ with a ±1 std band over seeds, one panel per corrector."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(curves) + 1, 4.5), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(gammas)))
    for ax, (name, w2) in zip(axes, curves.items(), strict=True):
        x = np.arange(w2.shape[-1])
        for j, gamma in enumerate(gammas):
            mean, std = w2[:, j].mean(axis=0), _seed_std(w2[:, j])
            ax.plot(x, mean, color=colors[j], lw=1.2, label=f"γ = {_gamma_key(gamma)}")
            ax.fill_between(x, mean - std, mean + std, color=colors[j], alpha=0.15, lw=0)
        ax.set(title=f"{name} ({w2.shape[0]} seeds)", xlabel="generation", xlim=(0, x[-1]))
        ax.set_ylim(bottom=0)
        ax.grid(lw=0.3)
    axes[0].set_ylabel("W2 to N(0, I)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)


def run_all(out, seeds: int = DEFAULT_SEEDS, generations: int = DEFAULT_GENERATIONS, progress: bool = False) -> str:
    """Both correctors over ``GAMMAS``; writes toy.png, toy.json and toy.md into ``out``; returns the table."""
    start = time.perf_counter()
    seed_list = _seed_list(seeds)
    curves = {c: run_toy(GAMMAS, c, seed_list, generations, progress=progress) for c in CORRECTORS}
    seconds = time.perf_counter() - start
    summary = summarize(curves, GAMMAS)
    table = format_table(summary, GAMMAS)
    config = {
        "gammas": list(GAMMAS),
        "seeds": seed_list,
        "generations": generations,
        "n": DEFAULT_N,
        "lam": DEFAULT_LAM,
        "synthetic_per_generation": int(DEFAULT_LAM * DEFAULT_N),
        "histogram_bins": HIST_BINS,
    }
    out = Path(out)
    plot_toy(curves, GAMMAS, out / "toy.png")
    result = {"config": config, "w2": summary, "seconds": round(seconds, 2)}
    write_text(out / "toy.json", json.dumps(result, indent=2) + "\n")
    settings = ", ".join(f"{key} = {value}" for key, value in config.items() if key != "gammas")
    header = f"# Gaussian toy: W2 to N(0, I) at generation {generations} (mean ± std over seeds)\n\n{settings}\n\n"
    write_text(out / "toy.md", header + table + "\n")
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m motion_diffusion.loop.toy", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder for toy.png, toy.json, toy.md")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="number of seeds (0..N-1)")
    parser.add_argument("--generations", type=int, default=DEFAULT_GENERATIONS)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        if args.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
        table = run_all(args.out, args.seeds, args.generations, progress=not args.no_progress)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    print(table)
    print(f"wrote {', '.join(str(Path(args.out) / f) for f in ('toy.png', 'toy.json', 'toy.md'))}")


if __name__ == "__main__":
    main()
