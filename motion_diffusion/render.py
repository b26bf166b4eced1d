"""Render motions saved as ``.npy`` (HumanML3D features ``(T, 263)`` or joints ``(T, 22, 3)``) to GIF or MP4.

python -m motion_diffusion.render IN.npy [IN2.npy ...] -o OUT.gif [--fps 20] [--titles A B ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .motion.skeleton import FPS
from .viz import render_files


def main(argv=None) -> int:
    """Parse the command line and render; bad input exits with a message and status 2."""
    parser = argparse.ArgumentParser(prog="python -m motion_diffusion.render", description="Render motions.")
    parser.add_argument("inputs", nargs="+", type=Path, help=".npy: features (T, 263) or joints (T, 22, 3)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file, .gif or .mp4")
    parser.add_argument("--fps", type=float, default=FPS, help=f"frame rate of the inputs (default {FPS})")
    parser.add_argument("--titles", nargs="+", help="one caption per input (default: the file names)")
    parser.add_argument("--stride", type=int, default=1, help="render every n-th frame (default 1)")
    parser.add_argument("--ncols", type=int, help="grid columns (default: all inputs in one row)")
    args = parser.parse_args(argv)
    try:
        render_files(
            args.inputs,
            args.output,
            titles=args.titles,
            fps=args.fps,
            stride=args.stride,
            ncols=args.ncols,
            progress=True,
        )
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
