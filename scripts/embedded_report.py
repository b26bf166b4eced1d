"""Print the physics-plausibility table of a built embedded dataset (per main family), as in the README.

Usage: ``python scripts/embedded_report.py [data/embedded] [--gif docs/embedded_dataset.gif]``

``--gif`` also renders the first single-family clip of each of ``GIF_FAMILIES`` with its first caption.
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from motion_diffusion.motion.skeleton import FPS
from motion_diffusion.viz import render_grid
from physics_correct.metrics import physics_metrics

COLUMNS = ("penetration_mm", "float_mm", "skate_mm", "phys_err_mm", "skate_ratio", "jerk")
GIF_FAMILIES = ("walk", "jog", "run", "walk_backward", "jump", "side_step", "kick", "wave")
GIF_SECONDS = 5.0


def family_table(root: Path) -> str:
    """Markdown table of mean physics metrics per main family, over every clip and its mirror."""
    families = json.loads((root / "dataset.json").read_text())["clip_families"]
    rows = defaultdict(list)
    for path in sorted((root / "new_joints").glob("*.npy")):
        family = families[path.stem.lstrip("M")].split("+")[0]
        metrics = physics_metrics(np.load(path))
        rows[family].append(metrics)
        rows["all"].append(metrics)
    lines = ["| family | clips | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for family in sorted(rows, key=lambda f: (f == "all", f)):
        means = [np.mean([m[c] for m in rows[family]]) for c in COLUMNS]
        cells = " | ".join(f"{v:.3f}" if c != "jerk" else f"{v:.0f}" for c, v in zip(COLUMNS, means, strict=True))
        lines.append(f"| {family} | {len(rows[family])} | {cells} |")
    return "\n".join(lines)


def render_families(root: Path, out: Path) -> Path:
    """GIF grid of the first single-family clip of each of ``GIF_FAMILIES``, titled with its first caption."""
    families = json.loads((root / "dataset.json").read_text())["clip_families"]
    first = {}
    for clip_id, family in sorted(families.items()):
        first.setdefault(family, clip_id)
    missing = [f for f in GIF_FAMILIES if f not in first]
    if missing:
        raise ValueError(f"{root} has no single-family clip of {missing}")
    clips = [first[f] for f in GIF_FAMILIES]
    motions = [np.load(root / "new_joints" / f"{c}.npy")[: round(GIF_SECONDS * FPS)] for c in clips]
    titles = [(root / "texts" / f"{c}.txt").read_text().splitlines()[0].split("#")[0] for c in clips]
    return render_grid(motions, out, ncols=4, titles=titles, stride=2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", default="data/embedded")
    parser.add_argument("--gif", help="also write a GIF of one clip per family")
    args = parser.parse_args()
    print(family_table(Path(args.root)))
    if args.gif:
        print(f"wrote {render_families(Path(args.root), Path(args.gif))}")
