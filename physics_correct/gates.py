"""The physics-correction gates of the issue, as functions: corruptions of a clean clip and the checks that the
default controller must pass on clean and corrupted clips (numpy only; the caller runs the correction).

Clean clips: no falls; mean joint error to the input at most ``MPJPE_LIMIT_MM`` (50 mm for standing and slow
motions, 80 mm for stepping ones); Phys-Err no worse than the input's plus ``PHYS_ERR_SLACK_MM``; penetration
at most ``PENETRATION_MAX_MM``.

Corrupted copies of a clean clip, judged against the clean clip: hovering (the whole body lifted
``HOVER_HEIGHT`` over the middle third, with ``RAMP_FRAMES`` ramps) loses at least 70 % of its Phys-Err and
sinking (``SINK_DEPTH``) at least 60 %, and both land closer to the clean clip than the corrupted input was;
``JITTER`` per-joint noise loses at least 30 % of its Phys-Err and at least half of its jerk; a ``DRIFT`` of the
whole body over the clip gets no worse; teleported frames are flagged. Moving a whole clip up or down cannot pass
the hover and sink gates: the clean two thirds then float or sink (``tests/test_correct_gates.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motion_diffusion.motion.skeleton import FPS

from .metrics import physics_metrics

MM = 1000.0
HOVER_HEIGHT = 0.10  # m
SINK_DEPTH = 0.05  # m
RAMP_FRAMES = 4  # frames over which hovering and sinking fade in and out
JITTER = 0.015  # m, standard deviation of the per-joint noise
DRIFT = 0.4  # m, horizontal (x) drift of the whole body from the first frame to the last
TELEPORT_FRAMES = 2  # frames moved away ...
TELEPORT_JUMP = 0.5  # m ... this far forward (z)
CORRUPTIONS = ("hover", "sink", "jitter", "drift", "teleport")

STANDING_FAMILIES = ("idle", "squat", "raise_arm", "wave", "punch", "bow", "kick")  # feet stay where they are
MPJPE_LIMIT_MM = {"standing": 50.0, "stepping": 80.0}
PHYS_ERR_SLACK_MM = 3.0
PENETRATION_MAX_MM = 1.0
MIN_REDUCTION = {"hover": 0.7, "sink": 0.6, "jitter": 0.3}
MAX_JERK_RATIO = 0.5  # jitter: at least half of the jerk goes


def motion_class(family: str) -> str:
    """ "standing" for clips whose every segment keeps the feet in place, else "stepping" (``a+b`` chains too)."""
    return "standing" if all(part in STANDING_FAMILIES for part in family.split("+")) else "stepping"


def _middle_third(num: int) -> np.ndarray:
    """Weight (T,) 1 over the middle third of a clip, ramping linearly over ``RAMP_FRAMES`` on each side."""
    frames = np.arange(num)
    start, stop = num // 3, 2 * num // 3
    rise = (frames - (start - RAMP_FRAMES - 1)) / (RAMP_FRAMES + 1)
    fall = (stop + RAMP_FRAMES - frames) / (RAMP_FRAMES + 1)
    return np.clip(np.minimum(np.minimum(rise, fall), 1.0), 0.0, 1.0)


def teleport_frames(num: int, rng: np.random.Generator) -> np.ndarray:
    """The frames a teleport corruption moves: ``TELEPORT_FRAMES`` distinct frames away from the clip's ends."""
    return np.sort(rng.choice(np.arange(5, num - 5), size=TELEPORT_FRAMES, replace=False))


def corrupt(joints: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A corrupted copy of a clean clip (T, 22, 3) (Y-up, metres); ``kind`` is one of ``CORRUPTIONS``."""
    rng = np.random.default_rng(seed)
    out = np.array(joints, dtype=np.float64)
    num = len(out)
    if kind == "hover":
        out[..., 1] += HOVER_HEIGHT * _middle_third(num)[:, None]
    elif kind == "sink":
        out[..., 1] -= SINK_DEPTH * _middle_third(num)[:, None]
    elif kind == "jitter":
        out += rng.normal(scale=JITTER, size=out.shape)
    elif kind == "drift":
        out[..., 0] += np.linspace(0.0, DRIFT, num)[:, None]
    elif kind == "teleport":
        out[teleport_frames(num, rng), :, 2] += TELEPORT_JUMP
    else:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {CORRUPTIONS}")
    return out


@dataclass(frozen=True)
class Check:
    """One gate: the measured ``value``, its ``limit``, and whether it ``passed``."""

    value: float
    limit: float
    passed: bool


def _at_most(value: float, limit: float) -> Check:
    return Check(float(value), float(limit), bool(value <= limit))


def _at_least(value: float, limit: float) -> Check:
    return Check(float(value), float(limit), bool(value >= limit))


def mpjpe_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Mean joint distance (mm) between two clips of the same shape."""
    return float(np.linalg.norm(a - b, axis=-1).mean() * MM)


def clean_checks(family: str, clean: np.ndarray, out: np.ndarray, report: dict) -> dict[str, Check]:
    """The gates of a clean clip corrected to ``out`` with ``report`` (``correct_joints``)."""
    before, after = report["metrics_before"], report["metrics_after"]
    return {
        "no_falls": _at_most(report["falls"], 0),
        "mpjpe_mm": _at_most(mpjpe_mm(out, clean), MPJPE_LIMIT_MM[motion_class(family)]),
        "phys_err_mm": _at_most(after["phys_err_mm"], before["phys_err_mm"] + PHYS_ERR_SLACK_MM),
        "penetration_mm": _at_most(after["penetration_mm"], PENETRATION_MAX_MM),
    }


def corruption_checks(
    kind: str, clean: np.ndarray, corrupted: np.ndarray, out: np.ndarray, report: dict, fps: float = FPS
) -> dict[str, Check]:
    """The gates of a ``kind`` corruption of ``clean``, corrected to ``out`` with ``report``.

    Phys-Err before is the corrupted input's (``report["metrics_before"]``); ``out`` is judged with
    ``physics_metrics`` so that any candidate output (for example a shifted copy) can be checked the same way.
    """
    before = report["metrics_before"]
    after = physics_metrics(out, fps)
    reduction = 1.0 - after["phys_err_mm"] / max(before["phys_err_mm"], 1e-9)
    checks = {"no_falls": _at_most(report["falls"], 0)}
    if kind in ("hover", "sink"):
        checks["phys_err_reduction"] = _at_least(reduction, MIN_REDUCTION[kind])
        checks["closer_to_clean_mm"] = _at_most(mpjpe_mm(out, clean), mpjpe_mm(corrupted, clean))
    elif kind == "jitter":
        checks["phys_err_reduction"] = _at_least(reduction, MIN_REDUCTION[kind])
        checks["jerk_ratio"] = _at_most(after["jerk"] / before["jerk"], MAX_JERK_RATIO)
    elif kind == "drift":
        checks["phys_err_mm"] = _at_most(after["phys_err_mm"], before["phys_err_mm"])
    elif kind == "teleport":
        checks["teleports_flagged"] = _at_least(report["teleported_frames"], TELEPORT_FRAMES)
    else:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {CORRUPTIONS}")
    return checks
