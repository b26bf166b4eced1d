"""``python -m motion_diffusion.train --data DIR --preset tiny --out RUN``: train on a HumanML3D-layout folder.

Re-running the same command continues from the run's latest checkpoint. Several GPUs:
``torchrun --nproc_per_node N -m motion_diffusion.train ...`` (DDP; each process takes its own batches).
"""

from __future__ import annotations

import argparse
import sys

from .model.presets import PRESETS
from .text import TEXT_ENCODERS
from .training import LR_SCHEDULES, TrainConfig

_DEFAULTS = TrainConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m motion_diffusion.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="HumanML3D-layout folder (with Mean.npy/Std.npy)")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, log.csv, run.json)")
    parser.add_argument("--split", default="train", help="split to train on (default: train)")
    parser.add_argument("--preset", default=_DEFAULTS.preset, choices=sorted(PRESETS))
    parser.add_argument("--text-encoder", default=_DEFAULTS.text_encoder, choices=TEXT_ENCODERS)
    parser.add_argument("--clip-path", help="local CLIP folder (for --text-encoder clip)")
    parser.add_argument("--init", help="checkpoint to fine-tune from (its Mean/Std are kept)")
    parser.add_argument("--steps", type=int, default=_DEFAULTS.steps, help="total optimisation steps")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size, help="per process")
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr)
    parser.add_argument(
        "--lr-schedule", default=_DEFAULTS.lr_schedule, choices=LR_SCHEDULES, help="cosine decays to 0 at --steps"
    )
    parser.add_argument("--ema-decay", type=float, default=_DEFAULTS.ema_decay)
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument("--save-every", type=int, default=_DEFAULTS.save_every)
    parser.add_argument("--log-every", type=int, default=_DEFAULTS.log_every)
    parser.add_argument("--max-minutes", type=float, help="stop early (with a checkpoint) after this wall time")
    parser.add_argument("--cache-dir", help="caption-embedding cache folder (default: the run folder)")
    parser.add_argument("--device", help="torch device (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    import torch.distributed as dist

    from .training import MotionTextSet, init_distributed, train

    try:
        config = TrainConfig(
            preset=args.preset,
            text_encoder=args.text_encoder,
            clip_path=args.clip_path,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            lr_schedule=args.lr_schedule,
            ema_decay=args.ema_decay,
            seed=args.seed,
            save_every=args.save_every,
            log_every=args.log_every,
            max_minutes=args.max_minutes,
        )
        distributed = init_distributed()
        data, normalizer = MotionTextSet.from_humanml3d(args.data, args.split)
        if args.init:
            normalizer = None  # keep the frozen Mean/Std of the checkpoint being fine-tuned
        last = train(data, args.out, config, normalizer, args.init, args.cache_dir, args.device, not args.no_progress)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    if not distributed or dist.get_rank() == 0:
        print(f"checkpoint: {last}", file=sys.stdout)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
