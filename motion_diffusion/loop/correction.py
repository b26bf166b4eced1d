"""Apply a pluggable corrector to a synthetic set: the chosen fraction gamma/(1+gamma), failures by rule.

A corrector is any function named ``"module:function"`` that takes a list of ``Motion`` (20 fps, captioned) plus
keyword options and returns one item per motion: a ``Motion`` (or joints ``(T, 22, 3)``), or a result object
with ``.motion``, ``.report`` (dict) and ``.error`` (None when it worked), as ``physics_correct.correct`` does.
If the call fails as a whole, each motion is corrected on its own, so one bad motion never costs the others.
A motion whose correction failed is dropped from the synthetic set (``on_failure="drop"``, the default) or
kept uncorrected (``"raw"``); either way the failure is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import FEATURE_DIM, FPS, NUM_JOINTS

REPORT_KEYS = ("falls", "assist_mean_bw", "assist_saturated", "mpjpe_mm")  # averaged into the generation's record


@dataclass
class CorrectedSet:
    """The synthetic set that joins the training data, and one record per generated motion."""

    features: list[np.ndarray]
    texts: list[str]
    records: list[dict]


@dataclass
class _Failure:
    """A motion the corrector raised on."""

    error: str
    motion: object = None
    report: dict | None = None


def _unpack(item) -> tuple[object, dict, str | None]:
    if hasattr(item, "motion"):
        return item.motion, dict(getattr(item, "report", None) or {}), getattr(item, "error", None)
    return item, {}, None


def _to_features(motion) -> np.ndarray:
    """HumanML3D features of a corrector's output (a Motion or joints at 20 fps)."""
    if not isinstance(motion, Motion):
        joints = np.asarray(motion, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"the corrector returned an array of shape {joints.shape}, not joints (T, 22, 3)")
        motion = Motion(joints, fps=FPS)
    features = motion.to_features()
    if features.ndim != 2 or features.shape[1] != FEATURE_DIM or not np.isfinite(features).all():
        raise ValueError("the corrected motion gives non-finite or malformed features")
    return features.astype(np.float32)


def run_corrector(corrector: Callable, motions: Sequence[Motion], options: dict) -> list[tuple]:
    """``(features or None, report, error)`` per motion; never raises for a failed motion."""
    motions = list(motions)
    if not motions:
        return []
    try:
        items = list(corrector(motions, **options))
        if len(items) != len(motions):
            raise ValueError(f"the corrector returned {len(items)} items for {len(motions)} motions")
    except Exception:  # the batch call failed: try each motion alone to find the bad ones
        items = []
        for motion in motions:
            try:
                items.extend(corrector([motion], **options))
            except Exception as exc:
                items.append(_Failure(f"{type(exc).__name__}: {exc}"))
    results = []
    for item in items:
        motion, report, error = _unpack(item)
        features = None
        if error is None:
            try:
                features = _to_features(motion)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        results.append((features, report, error))
    return results


def correct_synthetic(
    features: Sequence[np.ndarray],
    texts: Sequence[str],
    fraction: float,
    rng: np.random.Generator,
    corrector: Callable | None,
    options: dict,
    on_failure: str = "drop",
    max_falls: int | None = None,
) -> CorrectedSet:
    """Correct ``round(fraction * N)`` motions chosen with ``rng``; the rest stay as generated.

    A correction whose report counts more than ``max_falls`` falls (None: no limit) is a failed correction,
    handled by ``on_failure`` like one that raised: its output is partly the reference it was reset to.
    """
    count = int(round(fraction * len(features)))
    chosen = set(rng.choice(len(features), count, replace=False).tolist()) if count else set()
    order = sorted(chosen)
    results = run_corrector(corrector, [Motion.from_features(features[i], text=texts[i]) for i in order], options)
    outcome = dict(zip(order, results, strict=True))
    kept, kept_texts, records = [], [], []
    for i, (raw, text) in enumerate(zip(features, texts, strict=True)):
        record = {"index": i, "text": text, "corrected": i in chosen}
        if i in chosen:
            corrected, report, error = outcome[i]
            if error is None and max_falls is not None and report.get("falls", 0) > max_falls:
                error = f"the correction fell {report['falls']} times (max_falls={max_falls})"
                record["too_many_falls"] = True
            record.update({k: report[k] for k in REPORT_KEYS if k in report}, error=error)
            if error is not None:
                record["handled"] = on_failure
                if on_failure == "drop":
                    records.append(record)
                    continue
                corrected = raw
            kept.append(corrected)
        else:
            kept.append(np.asarray(raw, np.float32))
        kept_texts.append(text)
        records.append(record)
    return CorrectedSet(kept, kept_texts, records)


def correction_stats(records: Sequence[dict]) -> dict:
    """Counts and means of the corrector's report over one generation's synthetic set."""
    corrected = [r for r in records if r["corrected"]]
    stats = {
        "synthetic": len(records),
        "corrected": len(corrected),
        "failed": sum(r.get("error") is not None for r in corrected),
        "dropped": sum(r.get("handled") == "drop" for r in corrected),
        "too_many_falls": sum(r.get("too_many_falls", False) for r in corrected),
    }
    for key in REPORT_KEYS:
        values = [r[key] for r in corrected if r.get(key) is not None and r.get("error") is None]
        if values:
            stats[f"{key}_mean"] = float(np.mean(values))
    if any("falls" in r for r in corrected):
        stats["fell"] = sum(r.get("falls", 0) > 0 for r in corrected)
    return stats
