"""``python -m motion_diffusion.evaluate --data DIR [--ckpt CKPT | --generated GEN] [--evaluator EVAL]``.

Prints the standard table (real test split, then the model or the generated folder; R-precision, FID,
MM-Dist, Diversity, MultiModality as mean ± 95 % interval over repetitions, then physics metrics) and
writes it as JSON (``--out``; default: evaluation.json in the checkpoint, generated or evaluator folder).
"""

from __future__ import annotations

import argparse
import sys

from .evaluator.metrics import DIVERSITY_PAIRS, MM_PAIRS, MM_SAMPLES, POOL_SIZE, REPEATS
from .evaluator.suite import DEFAULT_PHYSICS, NO_PHYSICS, EvalSettings, run_evaluation
from .generation import DEFAULT_GUIDANCE, DEFAULT_STEPS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m motion_diffusion.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="HumanML3D-layout folder (test split: reference)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--ckpt", help="checkpoint or run folder: generate one motion per test entry")
    source.add_argument("--generated", help="folder of generated motions (new_joint_vecs/ + texts/)")
    parser.add_argument("--evaluator", help="our evaluator folder or Guo's files (default: DATA/evaluator)")
    mismatch_help = "use an evaluator trained on other data"
    parser.add_argument("--allow-fingerprint-mismatch", action="store_true", help=mismatch_help)
    parser.add_argument("--split", default="test")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool-size", type=int, default=POOL_SIZE, help="R-precision pool")
    parser.add_argument("--diversity-pairs", type=int, default=DIVERSITY_PAIRS)
    parser.add_argument("--mm-texts", type=int, default=0, help="MultiModality captions with --ckpt (0: off)")
    parser.add_argument("--mm-samples", type=int, default=MM_SAMPLES, help="motions per MModality caption")
    parser.add_argument("--mm-pairs", type=int, default=MM_PAIRS)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="sampling steps (with --ckpt)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help="classifier-free guidance")
    parser.add_argument("--regenerate", action="store_true", help="generate a new set for every repetition")
    parser.add_argument("--save-generated", help="write the generated motions to this folder")
    parser.add_argument(
        "--physics", default=DEFAULT_PHYSICS, help=f"physics metrics 'module:function' or '{NO_PHYSICS}'"
    )
    parser.add_argument("--out", help="JSON file to write")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = EvalSettings(
            repeats=args.repeats,
            pool_size=args.pool_size,
            diversity_pairs=args.diversity_pairs,
            mm_pairs=args.mm_pairs,
            seed=args.seed,
        )
        sampling = {"steps": args.steps, "guidance": args.guidance} if args.ckpt else {}
        report, table = run_evaluation(
            args.data,
            evaluator=args.evaluator,
            ckpt=args.ckpt,
            generated=args.generated,
            out=args.out,
            split=args.split,
            settings=settings,
            physics=args.physics,
            allow_fingerprint_mismatch=args.allow_fingerprint_mismatch,
            regenerate=args.regenerate,
            mm_texts=args.mm_texts,
            mm_samples=args.mm_samples,
            save_generated=args.save_generated,
            device=args.device,
            progress=not args.no_progress,
            **sampling,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table)
    print(f"\nwrote {report['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
