"""Motion families of the procedural dataset: documented parameter ranges and the builders behind them.

Every segment starts and ends with the body standing on both feet, so segments chain smoothly. Locomotion
plans footsteps along a pelvis path (cadence, stance and swing times and step length follow the speed); jumps
plan a crouch, a push, a ballistic flight and a landing; kicks shift the weight onto the stance foot first;
upper-body actions (waves, punches, bows, arm raises) are angle key frames layered on a standing or walking
lower body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ...motion.skeleton import FPS
from .body import (
    FLAT_PITCH,
    GRAVITY,
    LEFT,
    LEG_LENGTH,
    MAX_REACH,
    NEUTRAL_ARM,
    RIGHT,
    SIDE_SIGN,
    SIDES,
    STAND_HEIGHT,
    TOE_AHEAD,
    UP,
    PlanBuilder,
    ease,
    foot_from_toe,
    forward,
    hermite,
    hip_position,
    leftward,
    smoothstep,
    sole_center,
    toe_from_ankle,
    xyz,
    xz,
)

TURN_RATE = 1.2  # yaw rate of a turn while walking (rad/s)
MAX_STEPS = 80
TOE_UP_FRAMES = 3  # longest toe-up (heel pivot) before lift-off, walking backwards
PLACEMENT = 0.5  # the pelvis passes over a planted sole at this fraction of its stance
EVENT_REACH = 0.995  # at take-off and touchdown the stance leg stays this much short of its longest reach


def _frames(seconds: float) -> int:
    return int(round(seconds * FPS))


# ----------------------------------------------------------------------------------------------- locomotion


@dataclass(frozen=True)
class Gait:
    """How a kind of locomotion steps. Speeds in m/s, times in s, angles in rad, lengths in m."""

    cadence: tuple[float, float]  # steps per second = a + b * speed
    duty: tuple[tuple, tuple]  # (speeds, stance share of a stride): > 0.5 double support, < 0.5 flight
    width: float  # lateral distance between the sole centres of the two feet
    toe_out: float
    land_pitch: float  # foot pitch at touchdown (< 0 heel strike, > 0 toe first)
    lift_pitch: float  # planned foot pitch at lift-off (> 0 heel rise, < 0 toe up)
    rise: float  # share of the stance over which the lift pitch builds up
    swing_height: tuple[float, float]  # toe clearance bump = a + b * speed
    sway: float  # lateral pelvis sway towards the stance foot
    lean: float  # forward trunk lean when moving
    elbow: float  # elbow flexion when moving
    gains: tuple[float, float, float]  # arm swing, pelvis turn, chest counter-turn per metre of split
    accel: float  # seconds to reach cruise speed, and to stop
    height: float = 0.0  # pelvis lowered by this much while moving
    # Lean with the planned acceleration a: the pelvis pitches by atan(a / g) and each foot lands where the pelvis
    # passes over it at (PLACEMENT - a / g) of its stance, so the floor's push through the sole can speed the
    # body up or slow it down. Without it a run that speeds up to 3.8 m/s asks for forces no contact gives.
    lean_with_accel: bool = False


GAITS = {
    "walk": Gait(
        cadence=(0.9, 0.7), duty=((0.8, 1.6), (0.615, 0.6)), width=0.17, toe_out=0.1, land_pitch=-0.25,
        lift_pitch=0.55, rise=0.45, swing_height=(0.05, 0.02), sway=0.025, lean=0.04, elbow=0.3,
        gains=(0.5, 0.1, 0.2), accel=1.0, height=0.02,
    ),
    "run": Gait(
        cadence=(2.3, 0.18), duty=((0.0, 1.2, 1.8, 2.6, 4.0), (0.62, 0.5, 0.4, 0.37, 0.32)), width=0.12,
        toe_out=0.05, land_pitch=0.15, lift_pitch=0.8, rise=0.6, swing_height=(0.07, 0.05), sway=0.012,
        lean=0.15, elbow=1.45, gains=(0.5, 0.08, 0.2), accel=2.5, height=0.04, lean_with_accel=True,
    ),
    "backward": Gait(
        cadence=(0.9, 0.6), duty=((0.5, 1.1), (0.63, 0.61)), width=0.19, toe_out=0.08, land_pitch=0.2,
        lift_pitch=-0.2, rise=0.35, swing_height=(0.05, 0.02), sway=0.025, lean=-0.02, elbow=0.25,
        gains=(0.4, 0.08, 0.15), accel=1.0, height=0.02,
    ),
    "side": Gait(
        cadence=(1.3, 0.0), duty=((0.0, 1.0), (0.64, 0.64)), width=0.2, toe_out=0.08, land_pitch=0.05,
        lift_pitch=0.15, rise=0.3, swing_height=(0.06, 0.0), sway=0.03, lean=0.02, elbow=0.25,
        gains=(0.0, 0.0, 0.0), accel=0.5,
    ),
    "turn": Gait(
        cadence=(2.0, 0.0), duty=((0.0, 1.0), (0.62, 0.62)), width=0.18, toe_out=0.08, land_pitch=0.0,
        lift_pitch=0.2, rise=0.3, swing_height=(0.06, 0.0), sway=0.015, lean=0.02, elbow=0.25,
        gains=(0.0, 0.0, 0.0), accel=0.5,
    ),
}  # fmt: skip


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) frame of each run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def _stance_masks(n: int, steps: list[tuple], b: PlanBuilder):
    """Per side, over a chunk of ``n`` frames: planted mask, flat toe (x, z) and foot yaw, from its steps."""
    planted = np.zeros((2, n), dtype=bool)
    anchor = np.zeros((2, n, 2))
    yaw = np.zeros((2, n))
    for side in SIDES:
        start, toe, foot_yaw = 0, b.toe(side), b.foot_yaw(side)
        for s, lift, land, new_toe, new_yaw in steps:
            if s == side:
                planted[side, start : lift + 1], anchor[side, start : lift + 1] = True, toe
                yaw[side, start : lift + 1] = foot_yaw
                start, toe, foot_yaw = land, new_toe, new_yaw
        planted[side, start:], anchor[side, start:], yaw[side, start:] = True, toe, foot_yaw
    return planted, anchor, yaw


def _max_pelvis_height(pelvis_xz, yaw, toe, foot_yaw, pitch, side) -> float:
    """Highest pelvis over ``pelvis_xz`` from which the planted foot (flat toe, pitch) is within reach."""
    hip = hip_position(xyz(pelvis_xz), yaw, 0.0, side)  # for a pelvis at y = 0
    ankle = foot_from_toe(xyz(toe), foot_yaw, pitch, side)
    horizontal = np.hypot(*xz(hip - ankle))
    reach = EVENT_REACH * MAX_REACH * LEG_LENGTH[side]
    return float(ankle[1] + np.sqrt(max(reach**2 - horizontal**2, 0.0)) - hip[1])


def _locomotion_height(c: dict, planted, anchor, foot_yaw, gait: Gait, first_lift: int, end_land: int):
    """Pelvis height: level while walking; ballistic arcs from lift-off to touchdown for flights.

    A flight starts and ends at the highest pelvis the stance leg reaches; in every stance next to a flight
    the pelvis rests (zero vertical speed) at mid-stance, so the stance is a smooth dip like a runner's.
    Frames from lift-off to touchdown are marked ballistic.
    """
    n = len(planted[0])
    cruise = STAND_HEIGHT - gait.height
    flights = _runs(~planted[LEFT] & ~planted[RIGHT])
    knots = {0: (STAND_HEIGHT, 0.0), n - 1: (STAND_HEIGHT, 0.0)}
    if not flights:
        knots.update({first_lift: (cruise, 0.0), end_land: (cruise, 0.0)})
    stance_runs = [_runs(planted[s]) for s in SIDES]
    rests: dict[int, list[float]] = {}
    for a, z in flights:
        lo, td = a - 1, z + 1
        events = []
        for k, pitch in ((lo, gait.lift_pitch), (td, gait.land_pitch)):
            s = LEFT if planted[LEFT, k] else RIGHT
            top = _max_pelvis_height(c["pelvis_xz"][k], c["yaw"][k], anchor[s, k], foot_yaw[s, k], pitch, s)
            run = next(r for r in stance_runs[s] if r[0] <= k <= r[1])
            events.append((k, min(cruise, top), run))
        (_, y_lo, run_lo), (_, y_td, run_td) = events
        air = (td - lo) / FPS
        v_lo = (y_td - y_lo) / air + GRAVITY * air / 2
        v_td = v_lo - GRAVITY * air
        knots[lo], knots[td] = (y_lo, v_lo), (y_td, v_td)
        c["ballistic"][lo : td + 1] = True
        for edge, y, v, run in ((lo, y_lo, v_lo, run_lo), (td, y_td, v_td, run_td)):
            mid = (run[0] + run[1]) // 2
            if run[0] < mid < run[1] and mid not in knots:
                rests.setdefault(mid, []).append(y - abs(v) * abs(edge - mid) / FPS / 2)
    knots.update({k: (float(np.mean(ys)), 0.0) for k, ys in rests.items()})
    return hermite(n, sorted((k, y, v) for k, (y, v) in knots.items()))


def locomote(b: PlanBuilder, gait: Gait, rng: np.random.Generator, *, speed: float, seconds: float,
             travel: float = 0.0, turn: float = 0.0, turn_at: float = 0.5, curve: float = 0.0,
             cadence: float | None = None, first: int | None = None,
             overlay: Callable | None = None) -> None:  # fmt: skip
    """Start from standing, move for ``seconds`` and stop standing; footsteps follow the pelvis path.

    ``travel``: direction of motion relative to the facing (0 forward, pi backward, pi/2 to the left).
    ``turn``: yaw change (rad, > 0 left) centred at share ``turn_at`` of the way. ``curve``: constant yaw rate
    (rad/s) while moving. ``cadence`` (steps/s) overrides the gait's; ``first`` is the side stepping first.
    ``overlay(chunk, envelope)`` may edit the upper body before the chunk is committed.
    """
    t_go, t_first, settle = 0.25, 0.3, 0.35
    if speed > 0:  # speed up and slow down no faster than the gait allows, so that the steps can follow
        seconds = max(seconds, 2 * gait.accel)
    t_stop = t_go + seconds
    acc = min(gait.accel, seconds / 2)
    m = int(np.ceil((t_stop + 4.0) * FPS))
    t = np.arange(m) / FPS
    ramp = smoothstep((t - t_go) / acc) - smoothstep((t - t_stop + acc) / acc)
    turn_time = min(max(abs(turn) / TURN_RATE, 0.8), seconds) if speed > 0 else seconds
    t_turn = t_go + np.clip(turn_at * seconds - turn_time / 2, 0.0, seconds - turn_time)
    psi = b.facing + curve * np.cumsum(ramp) / FPS + turn * smoothstep((t - t_turn) / turn_time)
    yaw_rate = np.abs(np.gradient(psi) * FPS)
    v = speed * ramp * (1.0 - 0.35 * np.minimum(yaw_rate / TURN_RATE, 1.0))  # slow down in turns
    heading = psi + travel
    vel = v[:, None] * np.column_stack([np.sin(heading), np.cos(heading)])
    path = b.centre() + np.concatenate([[[0.0, 0.0]], np.cumsum(0.5 * (vel[1:] + vel[:-1]), axis=0) / FPS])
    lean = np.gradient(v) * FPS / GRAVITY if gait.lean_with_accel else np.zeros(m)  # a / g

    def frame(time: float) -> int:
        return min(int(round(time * FPS)), m - 1)

    def placement(side: int, time: float):
        """Flat toe (x, z) and yaw of a foot whose sole the pelvis passes over at ``time``."""
        k = frame(time)
        foot_yaw = psi[k] + SIDE_SIGN[side] * gait.toe_out
        centre = path[k] + SIDE_SIGN[side] * gait.width / 2 * xz(leftward(psi[k]))
        return centre + TOE_AHEAD[side] * xz(forward(foot_yaw)), foot_yaw

    if first is None:  # open towards the turn, else either foot
        first = LEFT if turn + curve > 0 else RIGHT if turn + curve < 0 else int(rng.integers(2))
    side = int(first)
    planted = {s: (b.toe(s), b.foot_yaw(s)) for s in SIDES}
    final = {s: placement(s, t[-1]) for s in SIDES}
    steps = []  # (side, lift time, land time, toe, yaw, stance seconds)
    t_lift = t_first
    while len(steps) < MAX_STEPS:
        v_step = v[frame(t_lift)]
        for _ in range(2):  # time the step with the speed expected around its stance
            step_time = 1.0 / (cadence or gait.cadence[0] + gait.cadence[1] * max(v_step, 0.8 * speed))
            duty = float(np.interp(v_step, *gait.duty))
            t_land = t_lift + 2.0 * step_time * (1.0 - duty)
            stance = 2.0 * duty * step_time
            v_step = v[frame(t_land + 0.5 * stance)]
        toe, foot_yaw = placement(side, t_land + (PLACEMENT - lean[frame(t_land + 0.5 * stance)]) * stance)
        steps.append((side, t_lift, t_land, toe, foot_yaw, stance))
        planted[side] = (toe, foot_yaw)
        t_lift = t_land + stance - step_time
        side = 1 - side
        other_toe, other_yaw = planted[side]
        placed = np.linalg.norm(other_toe - final[side][0]) < 0.02
        if t_land >= t_stop and placed and abs(other_yaw - final[side][1]) < 0.05:
            break

    # Quantise to frames: stances last >= 2 frames, swings >= 3, and walking gaits keep double support.
    events = []
    last_land = {LEFT: -10, RIGHT: -10}
    prev_land = -10
    flight = gait.duty[1][-1] < 0.5
    for side, t_lift, t_land, toe, foot_yaw, stance in steps:
        lift = max(_frames(t_lift), last_land[side] + 2, 1)
        if not flight:
            lift = max(lift, prev_land + 1)
        land = max(_frames(t_land), lift + 3)
        rise = _frames(gait.rise * stance)
        if gait.lift_pitch < 0:  # toes come up on the heel briefly, once the other foot is down
            rise = min(rise, lift - prev_land, TOE_UP_FRAMES)
        b.step(side, lift, land, toe, foot_yaw, lift_pitch=gait.lift_pitch, rise_frames=max(rise, 1),
               land_pitch=gait.land_pitch, roll_frames=2 if gait.land_pitch else 0,
               swing_height=gait.swing_height[0] + gait.swing_height[1] * speed)  # fmt: skip
        events.append((side, lift, land, toe, foot_yaw))
        last_land[side] = prev_land = land
    first_lift = min(e[1] for e in events)
    end_land = max(e[2] for e in events)
    n = end_land + _frames(settle) + 1

    c = b.chunk(n)
    planted_mask, anchor, foot_yaw = _stance_masks(n, events, b)
    f = np.arange(n)
    # Weight on the left foot: 1 in left single support, 0 in right, shifting in between.
    single = np.flatnonzero(planted_mask[LEFT] ^ planted_mask[RIGHT])
    w_left = np.interp(f, np.r_[0, single, n - 1], np.r_[0.5, planted_mask[LEFT, single], 0.5])
    w_left = np.convolve(np.pad(w_left, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    psi_n = psi[np.minimum(f, m - 1)]
    sway = gait.sway * (2 * w_left - 1)[:, None] * xz(leftward(psi_n))  # towards the stance foot
    c["pelvis_xz"] = path[np.minimum(f, m - 1)] + sway
    c["yaw"] = psi_n
    envelope = smoothstep(f / first_lift) * (1.0 - smoothstep((f - end_land) / (n - 1 - end_land)))
    c["balance"] = 1.0 - envelope
    c["support_left"] = w_left
    c["pelvis_y"] = _locomotion_height(c, planted_mask, anchor, foot_yaw, gait, first_lift, end_land)
    c["pitch"] += np.arctan(lean[np.minimum(f, m - 1)])
    c["spine"][:, 0] = gait.lean * envelope
    c["head"][:, 0] = -0.6 * gait.lean * envelope
    c["arms"][:, :, 3] = NEUTRAL_ARM[3] + (gait.elbow - NEUTRAL_ARM[3]) * envelope[:, None]
    c["arms"][:, :, 1] += 0.1 * abs(np.sin(travel)) * envelope[:, None]
    c["gait"][:] = (gait.gains[0], gait.gains[0]) + gait.gains[1:]
    if overlay is not None:
        overlay(c, envelope)
    b.commit(c)
    b.facing = float(psi[-1])


# -------------------------------------------------------------------------------------------- jumps and kicks


def jump(b: PlanBuilder, rng: np.random.Generator, *, height: float, distance: float, count: int) -> None:
    """``count`` two-footed jumps raising the pelvis by about ``height`` and landing ``distance`` ahead.

    Each jump: crouch, push (heels rise on the toes), a ballistic flight from take-off to touchdown at the
    same pelvis height, a toe-first landing absorbed into a crouch.
    """
    fwd = xz(forward(b.facing))
    take_off_pitch, land_pitch = 0.9, 0.5
    air = max(4, _frames(2.0 * np.sqrt(2.0 * height / GRAVITY))) / FPS
    v0 = GRAVITY * air / 2  # vertical take-off speed of the quantised flight
    rise = v0**2 / (2 * GRAVITY)
    crouch = 0.12 + 0.3 * height
    f = _frames(rng.uniform(0.35, 0.5))  # end of the first crouch
    y_knots, x_knots = [(0, STAND_HEIGHT, 0.0)], [(0, b.centre(), np.zeros(2))]
    arm_keys, spine_keys, balance_keys = [(0, NEUTRAL_ARM)], [(0, 0.0)], [(0, 1.0)]
    ballistic, steps = [], []
    toes = [b.toe(s).copy() for s in SIDES]
    yaws = [b.foot_yaw(s) for s in SIDES]
    for _ in range(count):
        centre = 0.5 * sum(xz(sole_center(xyz(toes[s]), yaws[s], s)) for s in SIDES)
        push = _frames(np.clip(2.2 * crouch / v0, 0.15, 0.35))
        landing_depth = 0.1 + 0.4 * rise
        absorb = _frames(np.clip(2.5 * landing_depth / v0, 0.2, 0.45))
        lo, td = f + push, f + push + _frames(air)
        u = distance / (push / FPS / 2 + air + absorb / FPS / 2)  # horizontal speed in flight
        x_lo = centre + fwd * u * push / FPS / 2
        x_td = x_lo + fwd * u * air
        x_end = x_td + fwd * u * absorb / FPS / 2
        new_toes = [toes[s] + (x_end - centre) for s in SIDES]
        y_air = min(
            min(_max_pelvis_height(x_lo, b.facing, toes[s], yaws[s], take_off_pitch, s) for s in SIDES),
            min(_max_pelvis_height(x_td, b.facing, new_toes[s], yaws[s], land_pitch, s) for s in SIDES),
        )
        y_knots += [(f, STAND_HEIGHT - crouch, 0.0), (lo, y_air, v0), (td, y_air, -v0)]
        y_knots.append((td + absorb, y_air - landing_depth, 0.0))
        x_knots += [(f, centre, np.zeros(2)), (lo, x_lo, fwd * u), (td, x_td, fwd * u)]
        x_knots.append((td + absorb, x_end, np.zeros(2)))
        arm_keys += [(f, (-0.6, 0.15, 0.0, 0.3)), (lo, (2.3, 0.2, 0.0, 0.3)), (td, (1.2, 0.3, 0.0, 0.4))]
        arm_keys.append((td + absorb, (0.6, 0.2, 0.0, 0.5)))
        spine_keys += [(f, 0.45), (lo, -0.05), (td, 0.1), (td + absorb, 0.4)]
        balance_keys += [(f, 1.0), (lo, 0.0), (td + absorb, 0.0)]
        ballistic.append((lo, td))
        steps += [(s, lo, td, new_toes[s], yaws[s], push, absorb, rise + 0.08) for s in SIDES]
        toes = new_toes
        f = td + absorb + _frames(rng.uniform(0.1, 0.25))
    end = f + _frames(rng.uniform(0.4, 0.6))
    n = end + _frames(0.3)
    for s, lo, td, toe, yaw, push, absorb, swing_height in steps:
        b.step(s, lo, td, toe, yaw, lift_pitch=take_off_pitch, rise_frames=push, land_pitch=land_pitch,
               roll_frames=int(round(0.7 * absorb)), swing_height=swing_height)  # fmt: skip
    c = b.chunk(n)
    c["pelvis_y"] = hermite(n, y_knots + [(end, STAND_HEIGHT, 0.0), (n - 1, STAND_HEIGHT, 0.0)])
    rest = x_knots[-1][1]
    c["pelvis_xz"] = hermite(n, x_knots + [(end, rest, np.zeros(2)), (n - 1, rest, np.zeros(2))])
    for lo, td in ballistic:
        c["ballistic"][lo : td + 1] = True
    c["arms"][:] = ease(n, arm_keys + [(end, NEUTRAL_ARM)])[:, None, :]
    c["spine"][:, 0] = ease(n, spine_keys + [(end, 0.0)])
    c["head"][:, 0] = -0.5 * c["spine"][:, 0]
    c["balance"] = ease(n, balance_keys + [(end, 1.0)])
    b.commit(c)


def kick(b: PlanBuilder, rng: np.random.Generator, *, side: int, angle: float, count: int) -> None:
    """Shift the weight onto the other foot, kick ``count`` times with leg ``side`` raised ``angle`` (rad)
    from vertical, put the foot back where it was and share the weight again."""
    stance = 1 - side
    fwd = forward(b.facing)
    pelvis = xyz(b.sole(stance), STAND_HEIGHT)  # over the stance foot
    hip = hip_position(pelvis, b.facing, 0.0, side)
    yaw = b.foot_yaw(side)

    def key(ankle, pitch):
        return toe_from_ankle(ankle, yaw, pitch, side), pitch

    chamber = key(hip + 0.4 * fwd - 0.5 * UP, 0.7)  # knee up, shank hanging
    extended = hip + 0.97 * LEG_LENGTH[side] * (np.sin(angle) * fwd - np.cos(angle) * UP)
    strike = key(extended, np.pi / 2 - angle - FLAT_PITCH[side])  # toes pointed along the shank
    shift = _frames(rng.uniform(0.5, 0.7))  # weight shift, then lift
    frames, poses = [shift + _frames(0.25)], [chamber]
    for _ in range(count):
        frames.append(frames[-1] + _frames(rng.uniform(0.15, 0.22)))
        frames.append(frames[-1] + _frames(rng.uniform(0.05, 0.15)))
        frames.append(frames[-1] + _frames(0.2))
        poses += [strike, strike, chamber]
    land = frames[-1] + _frames(0.3)
    end = land + _frames(rng.uniform(0.45, 0.6))
    n = end + _frames(0.3)
    keys = tuple((fr, toe, yaw, pitch) for fr, (toe, pitch) in zip(frames, poses, strict=True))
    b.step(side, shift, land, b.toe(side), yaw, lift_pitch=0.3, rise_frames=4, land_pitch=0.15, roll_frames=3,
           swing_keys=keys)  # fmt: skip
    c = b.chunk(n)
    on_stance = ease(n, [(0, 0.0), (shift, 1.0), (land, 1.0), (end, 0.0)])
    c["support_left"] = 0.5 + (0.5 if stance == LEFT else -0.5) * on_stance
    reach_out = [(fr, 1.0 if pose is strike else 0.3) for fr, pose in zip(frames, poses, strict=True)]
    extension = ease(n, [(0, 0.0), (shift, 0.0), *reach_out, (land, 0.0)])
    c["spine"][:, 0] = -0.3 * np.sin(angle) * extension  # lean back against the kick
    c["spine"][:, 1] = 0.08 * SIDE_SIGN[stance] * on_stance
    guard = np.asarray(NEUTRAL_ARM) + on_stance[:, None] * np.array([0.3, 0.2, 0.0, 1.1])
    c["arms"][:] = guard[:, None, :]
    c["arms"][:, stance, 0] += 0.4 * extension
    c["arms"][:, side, 0] -= 0.3 * extension
    b.commit(c)


# ------------------------------------------------------------------------------------------------ families


@dataclass(frozen=True)
class FamilySpec:
    """A motion family and the ranges its parameters are drawn from.

    ``ranges`` maps a parameter to ``(low, high)`` (uniform for floats, inclusive for ints) or to a list of
    choices (uniform). ``size`` names the parameters that set the segment's length; they are narrowed towards
    their low end when a clip's remaining length budget is tight.
    """

    name: str
    summary: str
    ranges: dict
    size: tuple[str, ...] = ()


def sample_params(spec: FamilySpec, rng: np.random.Generator, scale: float = 1.0) -> dict:
    """Draw JSON-serialisable parameters for ``spec`` (size parameters' ranges shrunk by ``scale``)."""
    params = {}
    for key, rule in spec.ranges.items():
        if isinstance(rule, list):
            params[key] = rule[int(rng.integers(len(rule)))]
            continue
        low, high = rule
        if key in spec.size:
            high = low + (high - low) * scale
        if isinstance(rule[0], int) and isinstance(rule[1], int):
            params[key] = int(rng.integers(low, int(high) + 1))
        else:
            params[key] = round(float(rng.uniform(low, high)), 3)
    return params


def _sign(side: str) -> float:
    return 1.0 if side == "left" else -1.0


def _side(side: str) -> int:
    return LEFT if side == "left" else RIGHT


def _arms_for(side: str) -> tuple[int, ...]:
    return SIDES if side == "both" else (_side(side),)


def _blend_arms(c: dict, arms: tuple[int, ...], pose: np.ndarray, weight: np.ndarray) -> None:
    """Blend the angles of ``arms`` towards (per-frame) ``pose`` by ``weight``; their gait swing fades out."""
    for arm in arms:
        c["arms"][:, arm] = (1 - weight)[:, None] * c["arms"][:, arm] + weight[:, None] * pose
        c["gait"][:, arm] *= 1 - weight


def _walk_like(gait_name: str):
    def build(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
        turn = curve = 0.0
        if p.get("path") == "turn":
            turn = _sign(p["side"]) * np.radians(p["turn_deg"])
        elif p.get("path") == "curve":
            curve = _sign(p["side"]) * np.radians(p["curve_deg_per_s"])
        travel = np.pi if gait_name == "backward" else 0.0
        locomote(b, GAITS[gait_name], rng, speed=p["speed"], seconds=p["seconds"], travel=travel, turn=turn,
                 turn_at=rng.uniform(0.45, 0.75), curve=curve)  # fmt: skip

    return build


def _side_step(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    cadence = p["cadence"]
    gait = replace(GAITS["side"], width=p["step_length"] / 2 + 0.12)  # the closing foot stops 12 cm short
    locomote(b, gait, rng, speed=p["step_length"] * cadence / 2, seconds=2 * p["steps"] / cadence,
             travel=_sign(p["side"]) * np.pi / 2, cadence=cadence, first=_side(p["side"]))  # fmt: skip


def _turn_in_place(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    angle = np.radians(p["angle_deg"])
    rate = 0.6 * p["cadence"]  # rad/s: each foot turns by at most ~70 degrees per step
    locomote(b, GAITS["turn"], rng, speed=0.0, seconds=angle / rate, turn=_sign(p["side"]) * angle,
             cadence=p["cadence"], first=_side(p["side"]))  # fmt: skip


def _jump(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    distance = p["distance"] if p["mode"] == "forward" else 0.0
    jump(b, rng, height=p["height"], distance=distance, count=p["count"])


def _kick(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    kick(b, rng, side=_side(p["side"]), angle=np.radians(p["height_deg"]), count=p["count"])


def _repeat_keys(rng: np.random.Generator, count: int, go, hold, back, pause) -> tuple[list, int]:
    """Key frames of an action done ``count`` times (0 -> 1, hold, -> 0) and the frame after the last one.

    ``go``, ``back`` and ``pause`` are (low, high) seconds drawn per repetition, ``hold`` is fixed seconds.
    """
    keys, f = [(0, 0.0)], _frames(rng.uniform(0.3, 0.5))
    for _ in range(count):
        a, h, r = _frames(rng.uniform(*go)), _frames(hold), _frames(rng.uniform(*back))
        keys += [(f, 0.0), (f + a, 1.0), (f + a + h, 1.0), (f + a + h + r, 0.0)]
        f += a + h + r + _frames(rng.uniform(*pause))
    return keys, f


def _squat(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    down, bottom = (0.45 * p["seconds_per_rep"],) * 2, 0.1 * p["seconds_per_rep"]
    keys, f = _repeat_keys(rng, p["reps"], down, bottom, down, (0.0, 0.3))
    n = f + _frames(rng.uniform(0.3, 0.6))
    c = b.chunk(n)
    down = ease(n, keys)
    depth = p["depth"] / FAMILIES["squat"].ranges["depth"][1]
    c["pelvis_y"] -= p["depth"] * down  # the balance pass moves the hips back over the feet
    c["pitch"] = 0.35 * depth * down
    c["spine"][:, 0] = 0.25 * depth * down
    c["head"][:, 0] = -0.4 * depth * down
    if p["arms"] == "forward":
        _blend_arms(c, SIDES, np.array([1.45, 0.05, 0.0, 0.1]), down)
    b.commit(c)


def _bow(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    keys, f = _repeat_keys(rng, p["count"], (0.6, 1.0), p["hold"], (0.6, 1.0), (0.1, 0.4))
    n = f + _frames(rng.uniform(0.3, 0.5))
    c = b.chunk(n)
    bend = np.radians(p["depth_deg"]) * ease(n, keys)
    c["pitch"] = 0.45 * bend  # hips
    c["spine"][:, 0] = 0.55 * bend
    c["head"][:, 0] = 0.15 * bend
    b.commit(c)


_RAISE_POSES = {  # left-arm convention: flexion, abduction, twist, elbow
    "forward": (1.5, 0.1, 0.0, 0.1),
    "up": (2.9, 0.2, 0.0, 0.15),
    "sideways": (0.1, 1.5, 0.0, 0.1),
}


def _raise_arm(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    keys, f = _repeat_keys(rng, p["count"], (0.5, 0.9), p["hold"], (0.5, 0.9), (0.2, 0.5))
    n = f + _frames(rng.uniform(0.2, 0.4))
    c = b.chunk(n)
    _blend_arms(c, _arms_for(p["side"]), np.asarray(_RAISE_POSES[p["direction"]]), ease(n, keys))
    b.commit(c)


def _wave_overlay(p: dict, rng: np.random.Generator):
    """Waving over a chunk: raise the hand beside the head, swing the forearm side to side, lower it."""

    def apply(c: dict, envelope: np.ndarray) -> None:
        n = len(envelope)
        raising, waving = _frames(rng.uniform(0.4, 0.6)), _frames(p["waves"] / p["rate"])
        start = max((n - waving) // 2 - raising, 1)
        up = ease(n, [(start, 0.0), (start + raising, 1.0), (start + raising + waving, 1.0),
                      (start + 2 * raising + waving, 0.0)])  # fmt: skip
        pose = np.tile((0.25, 1.75, np.pi / 2, 1.55), (n, 1))  # upper arm out and up, forearm vertical
        t = (np.arange(n) - start - raising) / FPS
        pose[:, 3] += 0.45 * np.sin(2 * np.pi * p["rate"] * t) * up
        _blend_arms(c, _arms_for(p["side"]), pose, up)

    return apply


def _wave(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    overlay = _wave_overlay(p, rng)
    seconds = p["waves"] / p["rate"] + 1.6
    if p["lower"] == "walk":
        locomote(b, GAITS["walk"], rng, speed=p["walk_speed"], seconds=seconds, overlay=overlay)
        return
    n = _frames(seconds + rng.uniform(0.2, 0.6))
    c = b.chunk(n)
    overlay(c, np.ones(n))
    b.commit(c)


def _punch(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    guard = np.array([0.9, 0.35, 0.0, 2.1])  # fists up by the chin
    strike = np.array([1.5, -0.05, 0.0, 0.08])  # arm straight ahead at shoulder height
    arms = [_side(p["side"])] * p["count"]
    if p["side"] == "both":
        first = int(rng.integers(2))
        arms = [(first + i) % 2 for i in range(p["count"])]
    f = _frames(rng.uniform(0.4, 0.6))
    guard_keys = [(0, 0.0), (f, 1.0)]
    hits = {LEFT: [(0, 0.0)], RIGHT: [(0, 0.0)]}
    twist = [(0, 0.0)]
    f += _frames(rng.uniform(0.1, 0.3))
    for arm in arms:
        out, back = _frames(rng.uniform(0.12, 0.18)), _frames(rng.uniform(0.2, 0.3))
        hits[arm] += [(f, 0.0), (f + out, 1.0), (f + out + back, 0.0)]
        twist += [
            (f, 0.0),
            (f + out, -0.3 * SIDE_SIGN[arm]),
            (f + out + back, 0.0),
        ]  # punching shoulder ahead
        f += out + back + _frames(rng.uniform(0.05, 0.3))
    guard_keys += [(f, 1.0), (f + _frames(0.5), 0.0)]
    n = f + _frames(rng.uniform(0.7, 0.9))
    c = b.chunk(n)
    on_guard = ease(n, guard_keys)
    c["pelvis_y"] -= 0.03 * on_guard
    for arm in SIDES:
        hit = ease(n, hits[arm])[:, None]
        _blend_arms(c, (arm,), (1 - hit) * guard + hit * strike, on_guard)
    c["spine"][:, 2] = ease(n, twist)
    c["spine"][:, 0] = 0.08 * on_guard
    b.commit(c)


def _idle(b: PlanBuilder, rng: np.random.Generator, p: dict) -> None:
    n = _frames(p["seconds"])
    c = b.chunk(n)
    t = np.arange(n) / FPS
    fade = ease(n, [(0, 0.0), (_frames(0.8), 1.0), (n - _frames(0.8), 1.0), (n - 1, 0.0)])
    shift = p["sway"] * np.sin(2 * np.pi * t / rng.uniform(2.0, 4.0) + rng.uniform(0, 2 * np.pi)) * fade
    c["support_left"] = 0.5 + shift  # weight shifts from foot to foot
    c["spine"][:, 1] = 0.15 * shift
    c["head"][:, 0] = rng.uniform(-0.1, 0.15) * fade
    if p["look"] == "around":
        keys = [(0, 0.0)] + [(int(k), rng.uniform(-0.7, 0.7)) for k in np.linspace(n * 0.2, n * 0.8, 3)]
        c["head"][:, 1] = ease(n, keys + [(n - 1, 0.0)]) * fade
    b.commit(c)


FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        FamilySpec(
            "walk", "walk forward on a straight, curved or turning path, then stop",
            {"speed": (0.8, 1.6), "seconds": (2.5, 7.0), "path": ["straight", "turn", "curve"],
             "side": ["left", "right"], "turn_deg": (45.0, 180.0), "curve_deg_per_s": (10.0, 30.0)},
            ("seconds",),
        ),
        FamilySpec(
            "jog", "jog (with flight phases) straight, curving or turning, then stop",
            {"speed": (1.8, 2.6), "seconds": (2.4, 5.5), "path": ["straight", "turn", "curve"],
             "side": ["left", "right"], "turn_deg": (45.0, 120.0), "curve_deg_per_s": (10.0, 30.0)},
            ("seconds",),
        ),
        FamilySpec(
            "run", "run fast, straight or curving, then stop",
            {"speed": (2.8, 4.0), "seconds": (2.4, 5.0), "path": ["straight", "curve"],
             "side": ["left", "right"], "curve_deg_per_s": (10.0, 25.0)},
            ("seconds",),
        ),
        FamilySpec(
            "walk_backward", "walk backwards (toe first, heel last)",
            {"speed": (0.5, 1.1), "seconds": (2.0, 5.0)}, ("seconds",),
        ),
        FamilySpec(
            "side_step", "side steps to the left or right (step out, close)",
            {"side": ["left", "right"], "steps": (2, 6), "step_length": (0.25, 0.45), "cadence": (1.2, 1.7)},
            ("steps",),
        ),
        FamilySpec(
            "jump", "two-footed jumps in place or forward: crouch, push, ballistic flight, landing",
            {"mode": ["in_place", "forward"], "count": (1, 3), "height": (0.08, 0.35),
             "distance": (0.3, 1.0)},
            ("count",),
        ),
        FamilySpec(
            "squat", "squats with the heels down and the hips back, arms down or forward",
            {"reps": (1, 4), "depth": (0.15, 0.45), "seconds_per_rep": (1.2, 2.2),
             "arms": ["down", "forward"]},
            ("reps",),
        ),
        FamilySpec(
            "raise_arm", "raise one or both arms forward, sideways or up, hold, lower",
            {"side": ["left", "right", "both"], "direction": ["forward", "sideways", "up"],
             "hold": (0.4, 2.0), "count": (1, 2)},
            ("count", "hold"),
        ),
        FamilySpec(
            "wave", "wave one or both hands beside the head, standing or walking",
            {"side": ["left", "right", "both"], "waves": (2, 6), "rate": (1.5, 2.6),
             "lower": ["stand", "stand", "walk"], "walk_speed": (0.8, 1.2)},
            ("waves",),
        ),
        FamilySpec(
            "kick", "shift the weight onto one foot and kick with the other leg",
            {"side": ["left", "right"], "height_deg": (35.0, 100.0), "count": (1, 2)}, ("count",),
        ),
        FamilySpec(
            "punch", "punches from a guard, with one hand or alternating",
            {"side": ["left", "right", "both"], "count": (1, 5)}, ("count",),
        ),
        FamilySpec(
            "bow", "bow from the hips and the spine, hold, straighten up",
            {"depth_deg": (20.0, 80.0), "hold": (0.3, 1.5), "count": (1, 2)}, ("count", "hold"),
        ),
        FamilySpec(
            "turn", "turn in place by stepping (re-planting the feet)",
            {"side": ["left", "right"], "angle_deg": (45.0, 180.0), "cadence": (1.8, 2.2)}, ("angle_deg",),
        ),
        FamilySpec(
            "spin", "spin around in place with quick pivot steps",
            {"side": ["left", "right"], "angle_deg": (270.0, 450.0), "cadence": (2.0, 2.4)}, ("angle_deg",),
        ),
        FamilySpec(
            "idle", "stand with a small sway and weight shifts, looking ahead or around",
            {"seconds": (3.0, 8.0), "sway": (0.1, 0.35), "look": ["ahead", "around"]}, ("seconds",),
        ),
    )
}  # fmt: skip

BUILDERS: dict[str, Callable[[PlanBuilder, np.random.Generator, dict], None]] = {
    "walk": _walk_like("walk"),
    "jog": _walk_like("run"),
    "run": _walk_like("run"),
    "walk_backward": _walk_like("backward"),
    "side_step": _side_step,
    "jump": _jump,
    "squat": _squat,
    "raise_arm": _raise_arm,
    "wave": _wave,
    "kick": _kick,
    "punch": _punch,
    "bow": _bow,
    "turn": _turn_in_place,
    "spin": _turn_in_place,
    "idle": _idle,
}


def add_segment(b: PlanBuilder, rng: np.random.Generator, family: str, max_frames: int) -> dict | None:
    """Append a ``family`` segment of at most ``max_frames``; return its parameters (None if none fits)."""
    spec = FAMILIES[family]
    state = b.snapshot()
    scale = 1.0
    for _ in range(6):
        params = sample_params(spec, rng, scale)
        BUILDERS[family](b, rng, params)
        if b.n - state[0] <= max_frames:
            return params
        b.restore(state)
        scale *= 0.6
    return None
