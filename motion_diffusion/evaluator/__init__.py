"""Text-motion evaluators (our contrastive one, Guo et al.'s published one) and the standard metrics.

- ``metrics``: FID, R-precision, matching score, diversity, multimodality, repeated draws (numpy only).
- ``train_evaluator`` / ``python -m motion_diffusion.evaluator train``: train our evaluator on a dataset.
- ``load_evaluator``: our evaluator folder or Guo's files; ``run_evaluation``: the full table.
"""

from .base import Evaluator, check_fingerprint, dataset_fingerprint, load_evaluator
from .contrastive import ContrastiveTextMotionEvaluator
from .guo import GuoEvaluator
from .metrics import (
    Summary,
    diversity,
    fid,
    matching_score,
    multimodality,
    r_precision,
    repeat_draws,
    summarize,
)
from .networks import EvaluatorConfig
from .suite import EvalSettings, MotionSet, evaluate, format_table, load_motion_folder, run_evaluation
from .train import EvaluatorTrainConfig, train_evaluator

__all__ = [
    "ContrastiveTextMotionEvaluator",
    "EvalSettings",
    "Evaluator",
    "EvaluatorConfig",
    "EvaluatorTrainConfig",
    "GuoEvaluator",
    "MotionSet",
    "Summary",
    "check_fingerprint",
    "dataset_fingerprint",
    "diversity",
    "evaluate",
    "fid",
    "format_table",
    "load_evaluator",
    "load_motion_folder",
    "matching_score",
    "multimodality",
    "r_precision",
    "repeat_draws",
    "run_evaluation",
    "summarize",
    "train_evaluator",
]
