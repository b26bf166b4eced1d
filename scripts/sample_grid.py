"""Render a GIF grid of samples for a dozen prompts (one per embedded motion family), as in the README.

Usage: ``python scripts/sample_grid.py CKPT OUT.gif [--seed 0]``
"""

import argparse

from motion_diffusion import generate
from motion_diffusion.generation import load_model
from motion_diffusion.motion.skeleton import FPS
from motion_diffusion.viz import render_grid

PROMPTS = [
    "a person walks forward",
    "someone runs forward quickly",
    "a person walks backwards",
    "the person jumps forward",
    "a person squats down twice",
    "a person waves with the right hand",
    "someone raises both arms up",
    "a person kicks with the left leg",
    "a person punches with the right hand",
    "a person bows",
    "a person spins around clockwise",
    "a person stands still",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ckpt")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    model = load_model(args.ckpt)
    motions = generate(model, PROMPTS, round(args.seconds * FPS), seed=args.seed)
    render_grid(motions, args.out, ncols=4, stride=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
