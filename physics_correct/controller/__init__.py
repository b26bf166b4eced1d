"""The default imitation controller: reference clean-up, the plan (PD targets, feed-forward, assist targets),
the whole-body balance layer and the per-step control law."""

from .balance import FootModel, feet_loads, support_index, support_torques, wholebody_torques
from .config import ControllerConfig
from .law import LawConstants, assist_limits, body_error, control, foot_pose_error
from .plan import Plan, build_plan
from .reference import interpolate_frames, prepare_reference

__all__ = [
    "ControllerConfig",
    "FootModel",
    "LawConstants",
    "Plan",
    "assist_limits",
    "body_error",
    "build_plan",
    "control",
    "foot_pose_error",
    "interpolate_frames",
    "feet_loads",
    "prepare_reference",
    "support_index",
    "support_torques",
    "wholebody_torques",
]
