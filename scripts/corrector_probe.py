"""Does a corrector move a model's synthetic motions towards the real data? The mechanism the loop relies on.

Samples ``--num`` motions from a checkpoint the way the loop synthesizes (captions of random train clips, the
real length, DDIM, ``--guidance`` 1 by default), corrects all of them, and prints the FID of each set against the
whole train split (the loop's evaluator) and its mean Phys-Err:

- ``raw``: the generated features as they are (what the no-correction arm trains on);
- ``round trip``: features -> joints -> features with no physics (every corrected motion takes this path too);
- ``corrected``: the corrector's output.

FID grows as a set shrinks, so sets are only compared at equal size: the three rows are repeated on the motions
whose correction succeeded, and on those whose correction did not fall.

Usage: ``python scripts/corrector_probe.py CKPT [--data data/embedded] [--num 64] [--seed 0]
[--corrector physics_correct:correct] [--set option=value ...]``. Takes about a minute on two cores for 64.
"""

import argparse
from pathlib import Path

import numpy as np

from motion_diffusion.evaluator.base import load_evaluator
from motion_diffusion.evaluator.metrics import fid
from motion_diffusion.evaluator.suite import physics_summary, resolve_function
from motion_diffusion.generation import load_model, sample_features
from motion_diffusion.loop.__main__ import parse_value
from motion_diffusion.loop.config import DEFAULT_CORRECTOR, DEFAULT_PHYSICS, LoopConfig
from motion_diffusion.loop.correction import correct_synthetic
from motion_diffusion.motion import Motion
from motion_diffusion.training import MotionTextSet

LOOP = LoopConfig()  # synthesis as the loop's defaults do it


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="data/embedded")
    parser.add_argument("--num", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=LOOP.guidance)
    parser.add_argument("--corrector", default=DEFAULT_CORRECTOR)
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE", help="a corrector option")
    args = parser.parse_args(argv)

    data = Path(args.data)
    real, _ = MotionTextSet.from_humanml3d(data, "train")
    rng = np.random.default_rng(args.seed)
    ids = rng.choice(len(real), args.num, replace=len(real) < args.num)
    texts = [real.captions[i][rng.integers(len(real.captions[i]))] for i in ids]
    model = load_model(args.checkpoint)
    lengths = [min(int(real.lengths[i]), model.max_frames) for i in ids]
    raw = sample_features(model, texts, lengths, steps=LOOP.sampling_steps, guidance=args.guidance, seed=args.seed)
    round_trip = [Motion.from_features(f).to_features() for f in raw]
    options = {**LOOP.corrector_options, **{k: parse_value(v) for k, _, v in (s.partition("=") for s in args.set)}}
    result = correct_synthetic(raw, texts, 1.0, rng, resolve_function(args.corrector), options, on_failure="raw")
    corrected = result.features
    ok = [r["index"] for r in result.records if r.get("error") is None]
    upright = [i for i in ok if result.records[i].get("falls", 0) == 0]

    evaluator = load_evaluator(data / "evaluator")
    reference = evaluator.embed_motions(real.features)
    physics = resolve_function(DEFAULT_PHYSICS)
    print(f"{len(ok)} of {args.num} corrected, {len(upright)} without a fall")
    print("| motions | set | FID to train | Phys-Err (mm) |\n|---|---|---|---|")
    for name, picked in ((f"all {args.num}", range(args.num)), (f"corrected ({len(ok)})", ok),
                         (f"corrected without a fall ({len(upright)})", upright)):  # fmt: skip
        for label, features in (("raw", raw), ("round trip", round_trip), ("corrected", corrected)):
            chosen = [features[i] for i in picked]
            if len(chosen) < 2:
                continue
            score = fid(reference, evaluator.embed_motions(chosen))
            phys = physics_summary(chosen, physics)["phys_err_mm"].mean
            print(f"| {name} | {label} | {score:.3f} | {phys:.1f} |")


if __name__ == "__main__":
    main()
