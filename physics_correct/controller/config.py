"""Settings of the default imitation controller (one frozen dataclass; every number has one home here)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from .. import humanoid
from .reference import SWING_CLEARANCE

FALL_DISTANCE = 0.5  # m, mean body error that counts as a fall (UHC, PHC)
ON_FALL = ("reset", "stop")
BACKENDS = ("mujoco", "mjx")
MODES = ("pd", "mpc")


@dataclass(frozen=True)
class ControllerConfig:
    """How the reference is prepared and tracked.

    - ``repair_absurd_frames``: frames with an absurd bone (off the skeleton's length by more than half, as
      generated motions have in a frame or two) are replaced by interpolation of their neighbours when they are
      at most this share of the clip (counted in the report); a clip with more raises. 0 rejects any.
    - ``fit_skeleton``: fit the rigid pelvis and chest shapes of the humanoid to the clip
      (``retarget.fit_branch_offsets``); bone lengths stay those of the skeleton.
    - ``control_substeps``: physics steps per control update (the model's timestep is 1/240 s by default).
    - ``smooth_sigma``: Gaussian smoothing of the retargeted reference, in input frames.
    - ``lock_feet`` / ``swing_clearance`` (m): stance-foot locking and swing lift in the reference.
    - ``centroidal``: move the reference's centre of mass onto a path its foot contacts can drive before
      tracking it (``centroidal.feasible_reference``: ballistic flights, ground forces inside the support and the
      friction cones, up to half the assist caps). On by default: generated jogs, runs and jumps are tracked
      closer and more of the sunk ones land closer to their clean clips (README); False tracks the clip as it is.
    - ``feedforward``: inverse-dynamics feed-forward with the body weight carried by the feet in contact (joint
      torques, and the root wrench the feet cannot supply through the root assist).
    - ``balance``: the balance layer of the control law (stance legs hold the pelvis over the planted feet,
      swing feet are steered to their landing spots); False tracks the plan's targets only.
    - ``assist_force`` (fraction of body weight) and ``assist_torque`` (N m): caps on the magnitude of the root
      assist's force and torque; 0 and 0 make the simulation fully physical.
    - ``fall_distance`` (m) and ``on_fall``: "reset" puts the body back on the reference and continues
      (each reset is counted), "stop" ends the simulation with an error.
    - ``backend``: "mujoco" (CPU MuJoCo) or "mjx" (MJX in JAX, ``backends.mjx``; needs the ``mjx`` extra).
    - ``rescue_seconds``: in mode "pd", a fall rewinds the simulation this long and redoes it with the MPC
      planner up to this long past the fall, then twice and four times as far back if it falls again; only a
      fall that all three attempts met counts. 0 (the default) turns the rescue off: each rescue runs the slow MPC
      planner (on an earlier dataset whose runs fell, 0.5 s made correcting the embedded test split 4.5x slower;
      on this one nothing falls). CPU backend only.
    - ``mode``: "pd" (the default law) or "mpc", the quality mode (``backends.sampling_mpc``; with
      ``backend="mjx"`` the same planner in JAX, its noise drawn by JAX, ``mpc_threads`` unused):
      every ``mpc_replan`` control steps, ``mpc_samples`` futures of ``mpc_horizon`` s with PD-target offsets
      (Gaussian, ``mpc_sigma`` rad, seeded by ``mpc_seed``) are rolled out closed loop (the law runs inside
      each) on ``mpc_threads`` threads, and the one that tracks the reference best with the least assist is
      applied.
    """

    repair_absurd_frames: float = 0.05
    fit_skeleton: bool = True
    control_substeps: int = 4
    smooth_sigma: float = 1.0
    lock_feet: bool = True
    swing_clearance: float = SWING_CLEARANCE
    centroidal: bool = True
    feedforward: bool = True
    balance: bool = True
    assist_force: float = humanoid.ASSIST_FORCE_CAP
    assist_torque: float = humanoid.ASSIST_TORQUE_CAP
    fall_distance: float = FALL_DISTANCE
    on_fall: str = "reset"
    backend: str = "mujoco"
    mode: str = "pd"
    rescue_seconds: float = 0.0
    mpc_samples: int = 16
    mpc_horizon: float = 0.3
    mpc_replan: int = 3
    mpc_sigma: float = 0.05
    mpc_threads: int = 1
    mpc_seed: int = 0

    def __post_init__(self):
        if not (isinstance(self.control_substeps, int) and self.control_substeps >= 1):
            raise ValueError(f"control_substeps must be a positive integer, got {self.control_substeps!r}")
        for name in ("smooth_sigma", "swing_clearance", "assist_force", "assist_torque", "rescue_seconds"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.repair_absurd_frames < 1:
            raise ValueError(f"repair_absurd_frames must be in [0, 1), got {self.repair_absurd_frames!r}")
        if not self.fall_distance > 0:
            raise ValueError(f"fall_distance must be positive, got {self.fall_distance!r}")
        if self.on_fall not in ON_FALL:
            raise ValueError(f"on_fall must be one of {ON_FALL}, got {self.on_fall!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("mpc_samples", "mpc_replan", "mpc_threads"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.mpc_samples < 2:
            raise ValueError(f"mpc_samples must be >= 2 (the previous best and no offset), got {self.mpc_samples}")
        if not (self.mpc_horizon > 0 and self.mpc_sigma >= 0):
            raise ValueError(f"mpc_horizon must be > 0 and mpc_sigma >= 0, got {self.mpc_horizon}, {self.mpc_sigma}")

    def with_options(self, **options) -> ControllerConfig:
        """A copy with some fields changed; unknown option names raise ``ValueError``."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown controller options {unknown}; known: {sorted(known)}")
        return replace(self, **options)
