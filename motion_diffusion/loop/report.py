"""What a loop run shows: metric-vs-generation plots, showcase GIFs per arm, and a Markdown summary table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..motion.files import write_text
from ..motion.motion import Motion
from .run import RESULTS_FILE, SHOWCASE_FILE, LoopRun

# (key in a record's "eval", title, better): the metrics plotted and tabulated, in this order.
METRICS = (
    ("fid", "FID", "lower"),
    ("diversity", "Diversity", "closer to real"),
    ("matching", "MM-Dist", "lower"),
    ("R@3", "R-precision top 3", "higher"),
    ("physics/phys_err_mm", "Phys-Err (mm)", "lower"),
    ("physics/skate_mm", "Skate (mm)", "lower"),
    ("physics/float_mm", "Float (mm)", "lower"),
    ("physics/jerk", "Jerk (m/s³)", "closer to real"),
)
COLORS = {"baseline": "tab:gray", "no_correction": "tab:red", "correction": "tab:blue"}
STYLES = ("-", "--", ":", "-.")


def read_results(out) -> list[dict]:
    path = Path(out) / RESULTS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# Per-generation statistics of the synthetic data (not evaluations), plotted after the metrics.
DATA_PANELS = (
    ("training_synthetic_physics", "phys_err_mm", "Phys-Err of synthetic training data (mm)", "lower"),
    ("correction", "mpjpe_mm_mean", "Distance the corrector moved motions (mm)", "MPJPE"),
)


def _across_seeds(values: list[tuple[float, float]]) -> tuple[float, float]:
    """(mean, 95 % half-width) of per-seed (mean, half-width) pairs: one seed keeps its own interval, several
    get the mean over seeds and 1.96 standard errors of it (the seed-to-seed spread, which is the larger noise)."""
    if len(values) == 1:
        return values[0]
    means = np.array([mean for mean, _ in values])
    return float(means.mean()), float(1.96 * means.std(ddof=1) / np.sqrt(len(means)))


def _curves(rows: list[dict], section: str, key: str) -> dict[str, tuple]:
    """label -> (label, kind, generations, means, 95 % half-widths) of ``row[section][key]`` (a Summary or a
    number); the seeds of an arm are pooled (``_across_seeds``) and counted in the label."""
    points: dict[str, dict] = {}
    for row in rows:
        value = row.get(section, {}).get(key)
        if value is None:
            continue
        pair = (value["mean"], value["ci"]) if isinstance(value, dict) else (value, 0.0)
        entry = points.setdefault(row["label"], {"kind": row["kind"], "seeds": set(), "by_generation": {}})
        entry["seeds"].add(row["seed"])
        entry["by_generation"].setdefault(row["generation"], []).append(pair)
    curves = {}
    for label, entry in points.items():
        gens = sorted(entry["by_generation"])
        pooled = np.array([_across_seeds(entry["by_generation"][g]) for g in gens])
        seeds = len(entry["seeds"])
        name = f"{label} ({seeds} seeds)" if seeds > 1 else label
        curves[label] = (name, entry["kind"], np.asarray(gens), pooled[:, 0], pooled[:, 1])
    return curves


def plot_metrics(out) -> Path:
    """One panel per metric, metric against generation, one line per arm (seeds pooled) with its 95 % band; real
    as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out = Path(out)
    rows = read_results(out)
    real = json.loads((out / "real.json").read_text()) if (out / "real.json").is_file() else {}
    panels = [("eval", *m) for m in METRICS] + list(DATA_PANELS)
    panels = [p for p in panels if _curves(rows, p[0], p[1])]
    cols = 5
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.0 * cols, 3.2 * nrows + 0.5))
    axes = np.atleast_1d(axes).ravel()
    for ax, (section, key, title, better) in zip(axes, panels, strict=False):
        lines: dict[str, int] = {}
        for label, kind, gens, mean, ci in _curves(rows, section, key).values():
            style = STYLES[lines.setdefault(kind, 0) % len(STYLES)]
            lines[kind] += 1
            color = COLORS.get(kind, None)
            ax.plot(gens, mean, style, marker="o", ms=3, color=color, label=label)
            ax.fill_between(gens, mean - ci, mean + ci, color=color, alpha=0.15, lw=0)
        if section == "eval" and key in real:
            ax.axhline(real[key]["mean"], color="k", lw=0.8, ls=":", label="real test data")
        ax.set_title(f"{title} ({better})", fontsize=10)
        ax.set_xlabel("generation")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.5 / (3.2 * nrows + 0.5), 1, 1))
    path = out / "plots" / "metrics.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_showcase(run: LoopRun, stride: int = 2) -> list[Path]:
    """One GIF per showcased generation: a row per arm (first seed), a column per prompt."""
    from ..viz import render_grid

    config = run.config
    arms = [arm for arm in config.arms if arm.seed == config.seeds[0]]
    paths = []
    for generation in config.showcased_generations:
        shown = arms[:1] if generation == 0 else arms  # every arm shares generation 0
        motions, titles = [], []
        for arm in shown:
            folder = run.gen0_dir(arm.seed) if generation == 0 else run.step_dir(arm, generation)
            if not (folder / SHOWCASE_FILE).is_file():
                break
            label = "generation 0" if generation == 0 else arm.label
            for k, (features, prompt) in enumerate(
                zip(np.load(folder / SHOWCASE_FILE), config.showcase_prompts, strict=True)
            ):
                motions.append(Motion.from_features(features, text=prompt))
                titles.append(f"{label}: {prompt}" if k == 0 else prompt)
        else:
            path = run.out / "gifs" / f"generation_{generation:03d}.gif"
            paths.append(render_grid(motions, path, len(config.showcase_prompts), titles, stride=stride))
    return paths


def _cell(value: dict | None) -> str:
    if value is None:
        return "–"
    mean, ci = value["mean"], value["ci"]
    digits = 3 if abs(mean) < 10 else 1
    return f"{mean:.{digits}f}±{ci:.{digits}f}" if ci > 0 else f"{mean:.{digits}f}"


def _pooled_cell(rows: list[dict], key: str) -> str:
    """A table cell of one evaluation metric pooled over the seeds' ``rows`` (``_across_seeds``)."""
    pairs = [(row["eval"][key]["mean"], row["eval"][key]["ci"]) for row in rows if key in row["eval"]]
    if not pairs:
        return "–"
    mean, ci = _across_seeds(pairs)
    return _cell({"mean": mean, "ci": ci})


def _failed_cell(stats: dict) -> str:
    failed = str(stats.get("failed", "–"))
    return f"{failed} ({stats['too_many_falls']})" if stats.get("too_many_falls") else failed


def summary_table(out) -> str:
    """Markdown: the last evaluated generation of every arm (and generation 0 and real data for reference)."""
    out = Path(out)
    rows = read_results(out)
    evaluated = [r for r in rows if "eval" in r]
    if not evaluated:
        return "No generation has been evaluated yet.\n"
    last = max(r["generation"] for r in evaluated)
    header = ["", "generation", *[m[1] for m in METRICS], "corrected", "failed", "falls", "moved (mm)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    real = json.loads((out / "real.json").read_text()) if (out / "real.json").is_file() else None
    if real:
        lines.append("| real test data | – | " + " | ".join(_cell(real.get(m[0])) for m in METRICS) + " | | | | |")
    gen0 = next((r for r in evaluated if r["generation"] == 0), None)
    if gen0:
        cells = " | ".join(_cell(gen0["eval"].get(m[0])) for m in METRICS)
        lines.append(f"| generation 0 | 0 | {cells} | | | | |")
    last_rows = [row for row in evaluated if row["generation"] == last]
    for row in last_rows:
        stats = row.get("correction", {})
        extra = [
            f"{stats.get('corrected', 0)}/{stats.get('synthetic', 0)}" if stats else "–",
            _failed_cell(stats) if stats else "–",
            f"{stats['falls_mean']:.2f}" if "falls_mean" in stats else "–",
            f"{stats['mpjpe_mm_mean']:.0f}" if "mpjpe_mm_mean" in stats else "–",
        ]
        cells = [_cell(row["eval"].get(m[0])) for m in METRICS]
        lines.append(f"| {row['label']} (seed {row['seed']}) | {last} | " + " | ".join(cells + extra) + " |")
    for label in dict.fromkeys(row["label"] for row in last_rows):
        group = [row for row in last_rows if row["label"] == label]
        if len(group) > 1:
            cells = [_pooled_cell(group, key) for key, *_ in METRICS]
            lines.append(f"| {label} (mean of {len(group)} seeds) | {last} | " + " | ".join(cells) + " | | | | |")
    note = (
        "\nMeans with 95 % intervals over evaluation repeats (rows over several seeds: over the seeds). corrected: "
        "synthetic motions the corrector mapped "
        "in the last generation; failed: corrections that raised or (in brackets) fell more often than max_falls; "
        "falls: mean falls per successful correction; moved: mean distance (MPJPE) between a synthetic motion and "
        "its correction.\n"
    )
    return "\n".join(lines) + "\n" + note


def write_report(run: LoopRun, gifs: bool = True) -> dict[str, Path | list[Path]]:
    """Plots, GIFs and summary.md of a run folder; returns their paths."""
    table = summary_table(run.out)
    write_text(run.out / "summary.md", f"# Self-consuming loop: {run.out}\n\n{table}")
    paths: dict[str, Path | list[Path]] = {"summary": run.out / "summary.md", "plot": plot_metrics(run.out)}
    if gifs:
        paths["gifs"] = render_showcase(run)
    return paths
