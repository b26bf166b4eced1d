"""Print the evidence table of the physics correction: per motion family and corruption, the controller's
falls (and falls rescued by the planner), joint error, Phys-Err before and after, assist, how much of the time
the input asks for more root force or torque than the assist caps allow, and the gates of
``physics_correct.gates`` it misses.

Usage: ``python scripts/physics_table.py [--seed 0] [--workers 2] [--mode pd|mpc] [--rescue 0.5] [--gif F.gif]``

One clip per family of the embedded dataset's generator (the first single-family clip of ``generate_clips``),
clean and with each corruption. ``--gif`` writes a before/after GIF of the walk clip with its hover corruption
(corrupted input | corrected | clean). Takes about a minute on two cores.
"""

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from motion_diffusion.data.procedural.generate import FAMILIES, generate_clips
from physics_correct import gates
from physics_correct.controller import ControllerConfig
from physics_correct.correct import correct_joints

CLIPS_SEARCHED = 6  # clips generated per family to find one single-family clip of each
GIF_CASE = ("walk", "hover")


def family_clips(seed: int) -> dict[str, np.ndarray]:
    """The first single-family clip of each family."""
    clips = {}
    for clip in generate_clips(CLIPS_SEARCHED * len(FAMILIES), seed=seed):
        if clip.family in FAMILIES:
            clips.setdefault(clip.family, clip.joints)
    return clips


def row(case: tuple[str, str, np.ndarray, int, ControllerConfig]) -> dict:
    """Correct one case (family, corruption or "clean", clean clip, seed, controller settings) and measure it."""
    family, kind, clean, seed, config = case
    joints = clean if kind == "clean" else gates.corrupt(clean, kind, seed=seed)
    out, report = correct_joints(joints, config=config)
    if kind == "clean":
        checks = gates.clean_checks(family, clean, out, report)
    else:
        checks = gates.corruption_checks(kind, clean, joints, out, report)
    return {
        "family": family,
        "case": kind,
        "falls": report["falls"],
        "rescues": report["rescues"],
        "mpjpe_mm": gates.mpjpe_mm(out, clean),
        "input_error_mm": gates.mpjpe_mm(joints, clean),
        "before": report["metrics_before"]["phys_err_mm"],
        "after": report["metrics_after"]["phys_err_mm"],
        "assist_bw": report["assist_mean_bw"],
        "assist_nm": report["assist_mean_nm"],
        "over_cap": report["reference_over_cap"],
        "missed": [name for name, check in checks.items() if not check.passed],
        "realtime": report["realtime_factor"],
    }


def markdown(rows: list[dict]) -> str:
    """The table as Markdown, one line per case, and a summary line per case kind."""
    head = (
        "| family | case | falls (rescued) | error to clean (mm) | Phys-Err before -> after (mm) "
        "| assist (% m g / N m) | input over the caps (% of time) | missed gates |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        error = f"{r['input_error_mm']:.0f} -> {r['mpjpe_mm']:.0f}" if r["case"] != "clean" else f"{r['mpjpe_mm']:.0f}"
        lines.append(
            f"| {r['family']} | {r['case']} | {r['falls']} ({r['rescues']}) | {error} "
            f"| {r['before']:.1f} -> {r['after']:.1f} "
            f"| {100 * r['assist_bw']:.0f} / {r['assist_nm']:.0f} | {100 * r['over_cap']:.0f} "
            f"| {', '.join(r['missed']) or '-'} |"
        )
    lines += [
        "",
        "| case | clips | falls (rescued) | all gates passed | Phys-Err change (mean) |",
        "|---|---|---|---|---|",
    ]
    for kind in ("clean", *gates.CORRUPTIONS):
        group = [r for r in rows if r["case"] == kind]
        if group:
            passed = sum(not r["missed"] for r in group)
            falls = f"{sum(r['falls'] for r in group)} ({sum(r['rescues'] for r in group)})"
            if kind == "clean":
                change = f"{np.mean([r['after'] - r['before'] for r in group]):+.1f} mm"
            else:
                change = f"{-100 * np.mean([1.0 - r['after'] / max(r['before'], 1e-9) for r in group]):+.0f} %"
            lines.append(f"| {kind} | {len(group)} | {falls} | {passed}/{len(group)} | {change} |")
    speed = np.mean([r["realtime"] for r in rows])
    lines.append(f"\nMean speed: {speed:.1f}x real time per core (retargeting included).")
    return "\n".join(lines)


def write_gif(clips: dict[str, np.ndarray], path: str, seed: int) -> None:
    """Before/after GIF of ``GIF_CASE``: corrupted input, corrected motion, clean clip, side by side."""
    from motion_diffusion.viz import render_motions

    family, kind = GIF_CASE
    clean = clips[family]
    corrupted = gates.corrupt(clean, kind, seed=seed)
    out, _ = correct_joints(corrupted)
    titles = [f"{family}, {kind} (input)", "physics-corrected", "clean"]
    render_motions([corrupted, out, clean], path, titles=titles)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="generator and corruption seed")
    parser.add_argument("--workers", type=int, default=1, help="processes (one clip each)")
    parser.add_argument("--mode", default="pd", choices=("pd", "mpc"), help="controller mode")
    parser.add_argument("--rescue", type=float, default=0.0, help="rescue_seconds of the fall rescue (0: off)")
    parser.add_argument("--gif", help="also write a before/after GIF of the walk clip with hovering")
    args = parser.parse_args(argv)
    clips = family_clips(args.seed)
    config = ControllerConfig(mode=args.mode, rescue_seconds=args.rescue)
    cases = [
        (family, kind, clip, args.seed, config)
        for family, clip in clips.items()
        for kind in ("clean", *gates.CORRUPTIONS)
    ]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(row, cases))
    else:
        rows = [row(case) for case in cases]
    print(markdown(rows))
    if args.gif:
        write_gif(clips, args.gif, args.seed)
        print(f"wrote {args.gif}")


if __name__ == "__main__":
    main()
