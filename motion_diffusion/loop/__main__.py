"""``python -m motion_diffusion.loop --out RUN [--preset embedded] [--set key=value ...]``: run (or resume) a loop.

Examples::

    python -m motion_diffusion.loop --out runs/loop                       # the CPU demo of `make train-loop`
    python -m motion_diffusion.loop --preset paper-64 --data /data/HumanML3D_movi --out runs/paper64 \\
        --set clip_path=/weights/clip-vit-base-patch32 --set device=cuda
    python -m motion_diffusion.loop --out runs/g --set gammas=[0.5,inf] --set corrector=mypkg.fix:correct
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .config import PRESETS, LoopConfig


def parse_value(text: str):
    """A ``--set`` value: JSON (numbers, lists, null, true), ``inf``, or else a plain string."""
    try:
        return json.loads(text.replace("inf", "Infinity"))
    except json.JSONDecodeError:
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m motion_diffusion.loop", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="run folder (rerun with the same settings to resume)")
    parser.add_argument("--preset", default="embedded", choices=sorted(PRESETS))
    parser.add_argument("--data", help="HumanML3D-layout folder (default: the preset's)")
    parser.add_argument("--generations", type=int, help="generations after generation 0")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any LoopConfig field, e.g. lambdas=[0.5,1]"
    )
    parser.add_argument("--no-gifs", action="store_true", help="skip rendering the showcase GIFs")
    return parser


def config_from_args(args) -> LoopConfig:
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key.strip()] = parse_value(value)
    if args.data:
        overrides["data"] = args.data
    if args.generations is not None:
        overrides["generations"] = args.generations
    base = LoopConfig(**PRESETS[args.preset]).to_dict()
    return LoopConfig.from_dict({**base, **overrides})


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .report import summary_table, write_report
    from .run import LoopRun

    try:
        config = config_from_args(args)
        run = LoopRun(config, args.out)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    run.run()
    paths = write_report(run, gifs=not args.no_gifs)
    print(summary_table(run.out))
    minutes = (time.perf_counter() - started) / 60
    print(f"loop finished in {minutes:.1f} min (this call); results in {run.out}:")
    for name, path in paths.items():
        for p in path if isinstance(path, list) else [path]:
            print(f"  {name}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
