"""Print the physics-plausibility table of a built embedded dataset (per main family), as in the README.

Usage: ``python scripts/embedded_report.py [data/embedded]``
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from physics_correct.metrics import physics_metrics

COLUMNS = ("penetration_mm", "float_mm", "skate_mm", "phys_err_mm", "skate_ratio", "jerk")


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


if __name__ == "__main__":
    print(family_table(Path(sys.argv[1] if len(sys.argv) > 1 else "data/embedded")))
