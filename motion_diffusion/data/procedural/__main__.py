"""``python -m motion_diffusion.data.procedural --out DIR``: write the embedded text-annotated motion dataset."""

import argparse

from .build import DEFAULT_NUM_CLIPS, build_dataset


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (HumanML3D layout)")
    parser.add_argument("--num", type=int, default=DEFAULT_NUM_CLIPS, help="generated clips (mirrors are added)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    summary = build_dataset(args.out, num_clips=args.num, seed=args.seed, workers=args.workers)
    print(
        f"wrote {summary['num_files']} clips ({summary['frames']} frames, splits {summary['splits']}) "
        f"to {args.out} in {summary['seconds_to_build']} s"
    )


if __name__ == "__main__":
    main()
