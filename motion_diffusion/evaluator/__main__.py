"""``python -m motion_diffusion.evaluator train --data DIR --out EVAL``: train our text-motion evaluator."""

from __future__ import annotations

import argparse
import json
import sys

from .networks import EvaluatorConfig
from .train import EvaluatorTrainConfig, train_evaluator

_TRAIN = EvaluatorTrainConfig()
_ARCH = EvaluatorConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m motion_diffusion.evaluator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train on a train split, keep the best val epoch, save")
    train.add_argument("--data", required=True, help="HumanML3D-layout folder with train and val splits")
    train.add_argument("--out", required=True, help="evaluator folder (evaluate looks in DATA/evaluator)")
    train.add_argument("--epochs", type=int, default=_TRAIN.epochs)
    train.add_argument("--batch-size", type=int, default=_TRAIN.batch_size)
    train.add_argument("--lr", type=float, default=_TRAIN.lr)
    train.add_argument("--temperature", type=float, default=_TRAIN.temperature)
    train.add_argument(
        "--duplicate-threshold",
        type=float,
        default=_TRAIN.duplicate_threshold,
        help="caption cosine similarity above which a pair is not used as a negative",
    )
    train.add_argument("--seed", type=int, default=_TRAIN.seed)
    train.add_argument("--width", type=int, default=_ARCH.width, help="transformer width")
    train.add_argument("--layers", type=int, default=_ARCH.layers, help="transformer layers")
    train.add_argument("--embed-dim", type=int, default=_ARCH.embed_dim, help="shared embedding width")
    train.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = EvaluatorTrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        temperature=args.temperature,
        duplicate_threshold=args.duplicate_threshold,
        seed=args.seed,
    )
    try:
        architecture = EvaluatorConfig(width=args.width, layers=args.layers, embed_dim=args.embed_dim)
        progress = not args.no_progress
        evaluator = train_evaluator(args.data, args.out, config, architecture, args.device, progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    info = evaluator.info
    keys = ("best_epoch", "train_seconds", "val_retrieval", "test_retrieval")
    summary = {k: info[k] for k in keys if k in info}
    print(f"saved evaluator (dataset fingerprint {evaluator.fingerprint}) to {args.out}")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
