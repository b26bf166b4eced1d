"""Physics-plausibility metrics of one 22-joint Y-up motion (numpy only).

PhysDiff's penetration, float and skate (Yuan et al., ICCV 2023) computed on joint positions instead of a body
mesh, their sum Phys-Err, GMD's foot-skating ratio (Karunratanakul et al., 2023) and the mean jerk.

Floor convention: the floor is y = 0, as in HumanML3D, where the lowest joint of a clip is put on the floor
once for the whole clip. The metrics never re-floor a clip, so a clip lifted or sunk as a whole scores as
floating or penetrating; numbers are only comparable between motions that follow this convention.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from motion_diffusion.motion.checks import check_fps, check_joints
from motion_diffusion.motion.contacts import CONTACT_HEIGHT, sole_heights
from motion_diffusion.motion.skeleton import FOOT_JOINTS, FPS, JOINT_NAMES

MIN_FRAMES = 4  # the jerk is a third difference
MM = 1000.0  # metres -> millimetres

# Penetration counts only below -5 mm and float only above +5 mm (PhysDiff re-implementation, physics.md 4.1).
PENETRATION_TOL = 0.005  # m
FLOAT_TOL = 0.005  # m

# Flight: a run of frames off the floor is a legal ballistic flight, not floating, when it lasts no longer
# than a body thrown up to its peak height would stay in the air, sqrt(8 * peak / g), times a slack for legs
# that move relative to the body in the air; one frame is added for the sampling of the run's ends.
GRAVITY = 9.81  # m/s^2
FLIGHT_TIME_SLACK = 1.25

# Skate: a foot joint touches the floor when its sole is below this height. Tighter than CONTACT_HEIGHT so
# that a swing foot skimming the floor is not counted: PhysDiff counts only mesh vertices on the floor, and a
# stance toe joint sits within about 1-2 cm of HumanML3D's floor.
SKATE_HEIGHT = 0.03  # m

# GMD foot-skating ratio (physics.md 4.2, humanml3d_and_mdm.md 3.5): the toe joints, near the floor
# (CONTACT_HEIGHT) in frames t and t+1, faster than this both instantaneously and on a moving average.
SKATE_RATIO_JOINTS = tuple(j for j in FOOT_JOINTS if JOINT_NAMES[j].endswith("_foot"))  # (10, 11)
SKATE_RATIO_SPEED = 0.5  # m/s (2.5 cm per 1/20 s frame)
SKATE_RATIO_WINDOW = 0.25  # s, GMD's 5 frames at 20 fps


def physics_metrics(joints, fps: float = FPS) -> dict[str, float]:
    """Physics-plausibility metrics of one motion ``(T, 22, 3)`` (Y-up, metres, floor y = 0) at ``fps``.

    Returns, averaged over frames (frames without the event count as 0):

    - ``penetration_mm``: depth of the lowest joint below ``-PENETRATION_TOL``.
    - ``float_mm``: height of the lowest sole point above ``FLOAT_TOL`` (ankles lowered by
      ``ANKLE_SOLE_HEIGHT`` so a heel-down foot touches), except in runs of frames short enough to be a
      ballistic flight (``GRAVITY``, ``FLIGHT_TIME_SLACK``), so jumps do not count as floating.
    - ``skate_mm``: horizontal displacement of the foot joints ``FOOT_JOINTS`` whose sole is below
      ``SKATE_HEIGHT`` in frames t and t+1, averaged over those joints, expressed per 1/20 s (HumanML3D's
      frame) so it does not depend on ``fps``.
    - ``phys_err_mm``: penetration + float + skate.
    - ``skate_ratio``: GMD's fraction of frame pairs where a toe joint below ``CONTACT_HEIGHT`` in both frames
      moves faster than ``SKATE_RATIO_SPEED`` both instantaneously and on a ``SKATE_RATIO_WINDOW`` average.
    - ``jerk``: mean norm of the third time derivative of the joint positions, m/s^3.

    Thresholds (module constants; ``ANKLE_SOLE_HEIGHT`` and ``CONTACT_HEIGHT`` live in
    ``motion_diffusion.motion.contacts``):

    ====================  ==========  ================================================
    PENETRATION_TOL       5 mm        below the floor before penetration counts
    FLOAT_TOL             5 mm        above the floor before floating counts
    ANKLE_SOLE_HEIGHT     5 cm        ankle joint above the sole of a flat foot
    GRAVITY               9.81 m/s^2  longest legal flight: sqrt(8 * peak height / g)
    FLIGHT_TIME_SLACK     1.25        ... times this, plus one frame
    SKATE_HEIGHT          3 cm        sole height under which a foot joint skates
    CONTACT_HEIGHT        5 cm        toe height for the skating ratio (GMD)
    SKATE_RATIO_SPEED     0.5 m/s     sliding speed for the skating ratio (GMD)
    SKATE_RATIO_WINDOW    0.25 s      moving average for the skating ratio (GMD)
    ====================  ==========  ================================================
    """
    joints = check_joints(joints, min_frames=MIN_FRAMES)
    fps = check_fps(fps)
    if joints.ndim != 3:
        raise ValueError(f"joints must be one motion (T, 22, 3), got {joints.shape}; loop over a batch")

    penetration = np.maximum(0.0, -joints[..., 1].min(axis=1) - PENETRATION_TOL)

    support = sole_heights(joints).min(axis=1)
    floating = np.maximum(0.0, support - FLOAT_TOL) * ~_flight_frames(support, fps)

    skate = _skate_per_frame(joints) * fps / FPS

    metrics = {
        "penetration_mm": float(penetration.mean() * MM),
        "float_mm": float(floating.mean() * MM),
        "skate_mm": float(skate.mean() * MM),
    }
    metrics["phys_err_mm"] = metrics["penetration_mm"] + metrics["float_mm"] + metrics["skate_mm"]
    metrics["skate_ratio"] = float(_skating_frames(joints, fps).mean())
    jerk = np.linalg.norm(np.diff(joints, n=3, axis=0), axis=-1) * fps**3
    metrics["jerk"] = float(jerk.mean())
    return metrics


def summarize(metric_dicts) -> dict[str, float]:
    """Mean of each metric over a list of ``physics_metrics`` results (all with the same keys)."""
    metric_dicts = list(metric_dicts)
    if not metric_dicts:
        raise ValueError("summarize needs at least one metrics dict, got an empty list")
    keys = list(metric_dicts[0])
    for i, metrics in enumerate(metric_dicts):
        if set(metrics) != set(keys):
            raise ValueError(f"metrics dict {i} has keys {sorted(metrics)}, expected {sorted(keys)}")
    return {key: float(np.mean([metrics[key] for metrics in metric_dicts])) for key in keys}


def _flight_frames(support: np.ndarray, fps: float) -> np.ndarray:
    """Frames ``(T,)`` in runs off the floor short enough for a ballistic flight to the run's peak height."""
    airborne = support > FLOAT_TOL
    edges = np.flatnonzero(np.diff(np.concatenate([[0], airborne.astype(np.int8), [0]])))
    flight = np.zeros_like(airborne)
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        peak = support[start:stop].max()
        ballistic_time = FLIGHT_TIME_SLACK * np.sqrt(8.0 * peak / GRAVITY) + 1.0 / fps
        flight[start:stop] = (stop - start) / fps <= ballistic_time
    return flight


def _skate_per_frame(joints: np.ndarray) -> np.ndarray:
    """Mean horizontal step (m) per frame pair ``(T-1,)`` of the foot joints on the floor in both frames."""
    feet = list(FOOT_JOINTS)
    near = sole_heights(joints)[:, feet] < SKATE_HEIGHT
    in_contact = near[1:] & near[:-1]
    step = np.linalg.norm(np.diff(joints[:, feet][..., [0, 2]], axis=0), axis=-1)
    count = in_contact.sum(axis=1)
    return np.where(count > 0, (step * in_contact).sum(axis=1) / np.maximum(count, 1), 0.0)


def _skating_frames(joints: np.ndarray, fps: float) -> np.ndarray:
    """GMD's skating flag per frame pair ``(T-1,)``: either toe near the floor and sliding fast."""
    toes = joints[:, list(SKATE_RATIO_JOINTS)]
    near = toes[..., 1] < CONTACT_HEIGHT
    speed = np.linalg.norm(np.diff(toes[..., [0, 2]], axis=0), axis=-1) * fps
    window = max(1, round(SKATE_RATIO_WINDOW * fps))
    average = uniform_filter1d(speed, size=window, axis=0, mode="nearest")
    skating = near[1:] & near[:-1] & (speed > SKATE_RATIO_SPEED) & (average > SKATE_RATIO_SPEED)
    return skating.any(axis=1)
