"""``python -m motion_diffusion.sample --ckpt CKPT --text "a person jumps forward" --seconds 4 --num 3 --out DIR``.

Writes, per sample, HumanML3D features ``sample_XXX.npy`` ``(T, 263)``, joints ``sample_XXX_joints.npy``
``(T, 22, 3)``, ``sample_XXX.bvh`` and ``sample_XXX.gif``, plus ``samples.json`` (captions, seed, settings).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .generation import DEFAULT_GUIDANCE, DEFAULT_STEPS
from .motion.skeleton import FPS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m motion_diffusion.sample", description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", required=True, help="checkpoint folder or run folder (latest checkpoint)")
    parser.add_argument("--text", action="append", required=True, help="caption (repeat for several)")
    parser.add_argument("--seconds", type=float, default=4.0, help="motion length in seconds")
    parser.add_argument("--num", type=int, default=1, help="samples per caption")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="sampling steps")
    parser.add_argument("--sampler", default="ddim", choices=["ddim", "ddpm"])
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help="classifier-free guidance scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip-path", help="local CLIP folder, if it moved since training")
    parser.add_argument("--device", help="torch device (default: cuda if available)")
    parser.add_argument("--no-gif", action="store_true", help="skip the GIFs (the slowest output)")
    return parser


def write_samples(motions, features, out, gif: bool = True) -> list[Path]:
    """Write features, joints, BVH and (optionally) a GIF per motion into ``out``; returns the feature files."""
    import numpy as np

    from .motion.bvh import save_bvh
    from .motion.files import save_npy

    out = Path(out)
    written = []
    for k, (motion, feats) in enumerate(zip(motions, features, strict=True)):
        stem = out / f"sample_{k:03d}"
        save_npy(stem.with_suffix(".npy"), np.asarray(feats, dtype=np.float32))
        save_npy(out / f"{stem.name}_joints.npy", motion.joints.astype(np.float32))
        save_bvh(stem.with_suffix(".bvh"), motion)
        if gif:
            from .viz import render_motions

            render_motions(motion, stem.with_suffix(".gif"), titles=[motion.text], fps=motion.fps)
        written.append(stem.with_suffix(".npy"))
    return written


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .generation import load_model, sample_features
    from .model.checkpoint import resolve_checkpoint
    from .motion import Motion
    from .motion.files import write_text

    frames = round(args.seconds * FPS)
    try:
        if args.num < 1:
            raise ValueError(f"--num must be >= 1, got {args.num}")
        model = load_model(args.ckpt, device=args.device, clip_path=args.clip_path)
        texts = [t for t in args.text for _ in range(args.num)]
        features = sample_features(
            model, texts, frames, args.steps, args.guidance, args.seed, args.sampler, progress=True
        )
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    motions = [Motion.from_features(f, fps=FPS, text=t) for f, t in zip(features, texts, strict=True)]
    files = write_samples(motions, features, args.out, gif=not args.no_gif)
    info = {
        "checkpoint": str(resolve_checkpoint(args.ckpt)),
        "samples": [{"file": f.name, "text": t, "frames": frames} for f, t in zip(files, texts, strict=True)],
        "seed": args.seed,
        "steps": args.steps,
        "sampler": args.sampler,
        "guidance": args.guidance,
    }
    write_text(Path(args.out) / "samples.json", json.dumps(info, indent=2) + "\n")
    print(f"wrote {len(files)} samples to {args.out}")


if __name__ == "__main__":
    main()
