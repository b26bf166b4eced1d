"""Generate text-annotated, physically plausible motion clips: the embedded default dataset's source.

``generate_clips(num, seed)`` is deterministic: clip ``i`` depends only on ``(seed, i)``. Main families are
dealt round-robin (in a shuffled order per round), so every family appears once ``num >= len(FAMILIES)`` and
all are balanced; about a third of the clips chain two or three segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...motion.skeleton import FPS, MAX_FRAMES, MIN_FRAMES
from .body import PlanBuilder, realise
from .captions import describe
from .families import FAMILIES, FamilySpec, add_segment

__all__ = ["FAMILIES", "FamilySpec", "GeneratedClip", "generate_clip", "generate_clips"]

CHAIN_FRACTION = 1 / 3  # share of clips made of 2-3 segments
CHAIN_RESERVE = 55  # frames kept free for each further segment of a chain
MOVING_START = ("walk", "jog", "run", "walk_backward")  # families whose clips may start mid-motion
MOVING_START_FRACTION = 0.3
MAX_ATTEMPTS = 5


@dataclass
class GeneratedClip:
    """One generated motion with its captions.

    ``joints``: ``(T, 22, 3)`` float64, Y-up metres, 20 fps, HumanML3D joint order. ``tokens``: per caption,
    the HumanML3D-style ``word/POS`` tokens. ``family``: the main family, or ``"a+b"`` for chained segments.
    ``params``: ``{"segments": [{"family": ..., <sampled parameters>}, ...], "start_frame": int}``.
    """

    joints: np.ndarray
    captions: list[str]
    tokens: list[list[str]]
    family: str
    params: dict


def _stand(b: PlanBuilder, frames: int) -> None:
    if frames > 0:
        b.commit(b.chunk(frames))


def _compose(family: str, rng: np.random.Generator, chain: bool) -> tuple[PlanBuilder, list]:
    """Plan a clip: a short stand, the ``family`` segment, maybe 1-2 chained segments, a stand to the end."""
    b = PlanBuilder()
    _stand(b, int(rng.integers(0, round(0.4 * FPS) + 1)))
    extra = 0 if not chain or rng.random() >= CHAIN_FRACTION else int(rng.choice([1, 1, 2]))
    params = add_segment(b, rng, family, MAX_FRAMES - b.n - extra * CHAIN_RESERVE)
    while params is None and extra > 0:  # too little room left for a chain: chain fewer segments
        extra -= 1
        params = add_segment(b, rng, family, MAX_FRAMES - b.n - extra * CHAIN_RESERVE)
    if params is None:
        raise RuntimeError(f"family {family!r} cannot fit in {MAX_FRAMES} frames; narrow its ranges")
    segments = [(family, params)]
    names = list(FAMILIES)
    for _ in range(extra):
        for _attempt in range(4):
            name = names[int(rng.integers(len(names)))]
            if name == segments[-1][0]:
                continue
            params = add_segment(b, rng, name, MAX_FRAMES - b.n)
            if params is not None:
                segments.append((name, params))
                break
    _stand(b, min(max(MIN_FRAMES - b.n, 0) + int(rng.integers(0, round(0.4 * FPS) + 1)), MAX_FRAMES - b.n))
    return b, segments


def generate_clip(family: str, rng: np.random.Generator, chain: bool = True) -> GeneratedClip:
    """One clip whose first segment is of ``family``; with ``chain`` about a third get 1-2 more segments.

    A plan that the body cannot follow exactly (a planted foot out of reach, a joint below the floor) is
    redrawn; none is expected, this is a safety net.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown motion family {family!r}; choose one of {sorted(FAMILIES)}")
    for _attempt in range(MAX_ATTEMPTS):
        b, segments = _compose(family, rng, chain)
        plan = b.build()
        joints = realise(plan)
        if plan.report["stance_reach_fixes"] == 0 and joints[..., 1].min() >= -1e-9:
            break
    else:
        raise RuntimeError(f"could not plan a feasible {family!r} clip in {MAX_ATTEMPTS} attempts")
    start = 0
    if len(segments) == 1 and family in MOVING_START and rng.random() < MOVING_START_FRACTION:
        start = b.first_lift + int(rng.integers(round(0.3 * FPS), round(1.0 * FPS)))
        start = max(min(start, len(joints) - MIN_FRAMES), 0)
    joints = joints[start:].copy()
    joints[:, :, [0, 2]] -= joints[0, 0, [0, 2]]
    captions, tokens = describe(segments, rng, count=int(rng.integers(3, 5)))
    return GeneratedClip(
        joints=joints,
        captions=captions,
        tokens=tokens,
        family="+".join(name for name, _ in segments),
        params={"segments": [{"family": name, **p} for name, p in segments], "start_frame": start},
    )


def clip_at(index: int, seed: int = 0) -> GeneratedClip:
    """Clip ``index`` of the sequence ``generate_clips`` makes for ``seed`` (families dealt round-robin)."""
    names = list(FAMILIES)
    cycle, slot = divmod(int(index), len(names))
    order = np.random.default_rng([seed, cycle, len(names)]).permutation(len(names))
    return generate_clip(names[order[slot]], np.random.default_rng([seed, int(index)]))


def generate_clips(num: int, seed: int = 0) -> list[GeneratedClip]:
    """``num`` clips, deterministic for ``seed``; families balanced round-robin, about 1/3 chained."""
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 0:
        raise ValueError(f"num must be a non-negative integer, got {num!r}")
    return [clip_at(i, seed) for i in range(int(num))]
