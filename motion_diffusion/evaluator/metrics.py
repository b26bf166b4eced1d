"""The standard text-to-motion metrics (Guo et al. 2022, as computed by MDM), on numpy embedding arrays.

All distances are Euclidean between the evaluator's raw embeddings. Each metric is a small pure function;
the random ones take a ``numpy.random.Generator`` so that a seed fixes the result. ``repeat_draws`` runs a
draw function several times with seeded generators and reports mean and 95 % interval per metric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

# The protocol's constants (humanml3d_and_mdm.md 3.2).
POOL_SIZE = 32  # R-precision: one text ranks the motions of a pool of this many pairs
TOP_K = 3  # R-precision is reported for top-1 .. top-TOP_K
DIVERSITY_PAIRS = 300
MM_TEXTS = 100  # multimodality: captions ...
MM_SAMPLES = 30  # ... times generated motions per caption ...
MM_PAIRS = 10  # ... and pairs drawn per caption
REPEATS = 20
CI_Z = 1.96  # 95 % normal interval: CI_Z * std / sqrt(repeats)


def check_embeddings(embeddings, name: str = "embeddings", ndim: int = 2) -> np.ndarray:
    """Return ``embeddings`` as float64 after checking it has ``ndim`` axes, is non-empty and finite."""
    array = np.asarray(embeddings, dtype=np.float64)
    if array.ndim != ndim or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty array with {ndim} axes, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.unique(np.argwhere(bad)[:, 0])
        raise ValueError(
            f"{name} contain NaN/Inf for {rows.size} item(s) (first: {rows[0]}): a NaN motion or caption "
            "is never averaged in; find and drop or regenerate it"
        )
    return array


def _check_pair(text, motion) -> tuple[np.ndarray, np.ndarray]:
    text = check_embeddings(text, "text embeddings")
    motion = check_embeddings(motion, "motion embeddings")
    if text.shape != motion.shape:
        raise ValueError(f"text and motion embeddings must pair up row by row: {text.shape}, {motion.shape}")
    return text, motion


def fid(reference, sample) -> float:
    """Fréchet distance between Gaussians fitted (mean, covariance) to two embedding sets ``(N, D)``.

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)``; the last trace equals
    ``tr((S1 S2)^1/2)`` and is computed from a symmetric matrix, so no complex round-off appears.
    """
    sets = [check_embeddings(x, name) for x, name in ((reference, "reference"), (sample, "sample"))]
    if sets[0].shape[1] != sets[1].shape[1]:
        raise ValueError(f"FID needs embeddings of one width, got {sets[0].shape[1]} and {sets[1].shape[1]}")
    for x, name in zip(sets, ("reference", "sample"), strict=True):
        if len(x) < 2:
            raise ValueError(f"FID needs at least 2 {name} embeddings to fit a covariance, got {len(x)}")
    (mu1, s1), (mu2, s2) = [(x.mean(axis=0), np.cov(x, rowvar=False)) for x in sets]
    values, vectors = np.linalg.eigh(s1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    cross = np.linalg.eigvalsh(root1 @ s2 @ root1)
    cross_trace = np.sum(np.sqrt(np.clip(cross, 0, None)))
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross_trace
    return float(max(distance, 0.0))


def r_precision(
    text, motion, rng: np.random.Generator, pool_size: int = POOL_SIZE, top_k: int = TOP_K
) -> tuple[np.ndarray, float]:
    """R-precision top-1..top_k and the matching score (MM-Dist) over pools of ``pool_size`` pairs.

    Pairs are shuffled with ``rng`` and cut into full pools (the remainder is left out, as a loader with
    ``drop_last``); in each pool every text ranks the pool's motions by distance. Ties are broken at
    random in expectation, so a collapsed set (all motions equal) scores chance, not 1.
    Returns ``(hits, matching)``: ``hits[k-1]`` is the fraction of texts whose own motion ranks in the top k,
    ``matching`` the mean distance of a text to its own motion over the same pairs.
    """
    text, motion = _check_pair(text, motion)
    if not 1 <= top_k <= pool_size:
        raise ValueError(f"top_k must be in 1..pool_size ({pool_size}), got {top_k}")
    pools = len(text) // pool_size
    if pool_size < 2 or pools == 0:
        raise ValueError(
            f"R-precision needs at least one pool of {pool_size} pairs (pool size >= 2), got {len(text)} "
            "pairs: evaluate more motions or lower the pool size"
        )
    order = rng.permutation(len(text))[: pools * pool_size].reshape(pools, pool_size)
    k = np.arange(1, top_k + 1)
    hits = np.zeros(top_k)
    matching = 0.0
    for pool in order:
        dist = cdist(text[pool], motion[pool])
        own = np.diag(dist)[:, None]
        smaller = (dist < own).sum(axis=1)[:, None]
        ties = (dist == own).sum(axis=1)[:, None] - 1
        # own motion lands uniformly among its ties: P(rank < k) = clip(k - smaller, 0, ties + 1) / (ties + 1)
        hits += (np.clip(k - smaller, 0, ties + 1) / (ties + 1)).sum(axis=0)
        matching += own.sum()
    count = pools * pool_size
    return hits / count, matching / count


def matching_score(text, motion) -> float:
    """Mean distance between each text embedding and its own motion embedding (over all pairs)."""
    text, motion = _check_pair(text, motion)
    return float(np.linalg.norm(text - motion, axis=1).mean())


def diversity(embeddings, rng: np.random.Generator, num_pairs: int = DIVERSITY_PAIRS) -> float:
    """Mean distance of ``num_pairs`` random pairs: two index draws, each without replacement."""
    embeddings = check_embeddings(embeddings, "motion embeddings")
    if num_pairs < 1 or len(embeddings) < num_pairs:
        raise ValueError(
            f"diversity draws {num_pairs} distinct motions twice but the set has {len(embeddings)}: "
            "evaluate more motions or lower the number of diversity pairs"
        )
    first = rng.choice(len(embeddings), num_pairs, replace=False)
    second = rng.choice(len(embeddings), num_pairs, replace=False)
    return float(np.linalg.norm(embeddings[first] - embeddings[second], axis=1).mean())


def multimodality(embeddings, rng: np.random.Generator, num_pairs: int = MM_PAIRS) -> float:
    """Mean distance between motions generated for one caption; ``embeddings`` is ``(texts, samples, D)``.

    Per draw, ``num_pairs`` first and second sample indices (each without replacement) serve all texts.
    """
    embeddings = check_embeddings(embeddings, "multimodality embeddings", ndim=3)
    samples = embeddings.shape[1]
    if num_pairs < 1 or samples < num_pairs:
        raise ValueError(
            f"multimodality draws {num_pairs} distinct samples per caption twice but there are {samples} "
            "per caption: generate more samples per caption or lower the number of pairs"
        )
    first = rng.choice(samples, num_pairs, replace=False)
    second = rng.choice(samples, num_pairs, replace=False)
    return float(np.linalg.norm(embeddings[:, first] - embeddings[:, second], axis=-1).mean())


@dataclass(frozen=True)
class Summary:
    """One metric over repeated draws: ``mean`` and the 95 % interval half-width ``ci``, plus the draws."""

    mean: float
    ci: float
    values: tuple[float, ...]

    def to_dict(self, with_values: bool = True) -> dict:
        out = {"mean": self.mean, "ci": self.ci, "n": len(self.values)}
        return {**out, "values": list(self.values)} if with_values else out


def summarize(values) -> Summary:
    """Mean and ``CI_Z * std / sqrt(R)`` of R values (population std, as the standard protocol)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"summarize needs a non-empty list of numbers, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"cannot summarise non-finite values {values.tolist()}: a NaN is never averaged in")
    ci = CI_Z * values.std() / np.sqrt(values.size)
    return Summary(float(values.mean()), float(ci), tuple(values.tolist()))


def draw_rng(seed: int, repeat: int) -> np.random.Generator:
    """The generator of draw ``repeat`` for ``seed`` (independent streams, same numbers on every machine)."""
    return np.random.default_rng([seed, repeat])


def repeat_draws(
    draw: Callable[[np.random.Generator], Mapping[str, float]], repeats: int = REPEATS, seed: int = 0
) -> dict[str, Summary]:
    """Run ``draw(rng)`` ``repeats`` times with ``draw_rng(seed, r)``; summarise each metric it returns."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    results = [dict(draw(draw_rng(seed, r))) for r in range(repeats)]
    keys = list(results[0])
    if any(list(result) != keys for result in results):
        raise ValueError("every draw must return the same metrics")
    return {key: summarize([result[key] for result in results]) for key in keys}
