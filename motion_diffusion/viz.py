"""Stick-figure rendering of 22-joint Y-up motions to GIF or MP4 (matplotlib Agg + imageio).

Each motion gets a panel: the skeleton's kinematic chains (left limbs blue, right limbs red, spine dark), foot
joints in contact with the floor marked green, a floor grid that follows the root and the root's trajectory
traced on the floor. A motion is a ``(T, 22, 3)`` array or an object with ``.joints``, ``.fps`` and an
optional ``.text`` (such as ``motion_diffusion.motion.Motion``).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm import tqdm

from .motion.checks import check_fps, check_joints
from .motion.contacts import foot_contacts
from .motion.skeleton import FEATURE_DIM, FOOT_JOINTS, FPS, JOINT_NAMES, KINEMATIC_CHAINS, NUM_JOINTS

PANEL_SIZE = (320, 384)  # pixels (width, height) of one motion's panel; multiples of 16 for the MP4 encoder
DPI = 80
VIEW_RADIUS = 1.0  # m, half width of the floor square shown around the root
VIEW_HEIGHT = 2.0  # m, top of the view above the floor
GRID_SPACING = 0.5  # m between floor grid lines
ELEVATION, AZIMUTH = 15.0, -60.0  # degrees: camera slightly above, in front and to the character's left
TITLE_CHARS = 40  # characters per line of a wrapped caption
COLOURS = {"left": "#1f77b4", "right": "#d62728", "centre": "#404040"}
CONTACT_COLOUR = "#2ca02c"
TRAJECTORY_COLOUR = "#ff7f0e"
GRID_COLOUR = "#c8c8c8"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi")


def render_motions(motions, path, titles=None, *, fps: float = FPS, stride: int = 1, progress=False):
    """Render one motion or several side by side to ``path`` (``.gif`` or ``.mp4``); return the path.

    ``fps`` is the frame rate of plain arrays and of the output; motion objects keep their own ``.fps``.
    Shorter motions hold their last frame; the output lasts as long as the longest motion, at
    ``fps / stride`` frames per second.
    ``titles`` default to the motions' ``.text``.
    """
    motions = _as_list(motions)
    return render_grid(motions, path, len(motions), titles, fps=fps, stride=stride, progress=progress)


def render_grid(motions, path, ncols=4, titles=None, *, fps: float = FPS, stride: int = 1, progress=False):
    """Render many motions in a grid of ``ncols`` columns to ``path`` (``.gif`` or ``.mp4``); return the path.

    Same conventions as ``render_motions``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".gif" and suffix not in VIDEO_SUFFIXES:
        formats = "/".join((".gif",) + VIDEO_SUFFIXES)
        raise ValueError(f"cannot tell the video format of {path}: name the output file {formats}")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    scene = _Scene(_as_list(motions), titles, fps, ncols)
    out_fps = scene.fps / stride
    frames = range(0, scene.num_frames(stride))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")  # keeps the suffix imageio reads
    if suffix == ".gif":
        writer = imageio.get_writer(partial, mode="I", duration=1000.0 / out_fps, loop=0)
    else:
        writer = imageio.get_writer(partial, fps=out_fps, macro_block_size=16)
    try:
        with writer:
            for k in tqdm(frames, desc=f"render {path.name}", unit="frame", disable=not progress):
                writer.append_data(scene.draw(k * stride / scene.fps))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def render_frame(motions, time: float = 0.0, titles=None, fps: float = FPS, ncols=None) -> np.ndarray:
    """One rendered frame ``(H, W, 3)`` uint8 at ``time`` seconds: a still of ``render_grid``'s layout."""
    motions = _as_list(motions)
    return _Scene(motions, titles, fps, ncols or len(motions)).draw(time)


def render_files(paths, out, titles=None, fps: float = FPS, stride: int = 1, ncols=None, progress=False):
    """Render ``.npy`` files of HumanML3D features ``(T, 263)`` or joints ``(T, 22, 3)`` to ``out``.

    The layout is one row, or a grid of ``ncols`` columns. Titles default to the file names.
    """
    motions = [load_joints(path) for path in paths]
    titles = titles if titles is not None else [Path(path).stem for path in paths]
    return render_grid(
        motions, out, ncols=ncols or len(motions), titles=titles, fps=fps, stride=stride, progress=progress
    )


def load_joints(path) -> np.ndarray:
    """Joints ``(T, 22, 3)`` from a ``.npy`` file of joints, or of HumanML3D features ``(T, 263)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion file {path} does not exist")
    array = np.load(path)
    if array.ndim == 3 and array.shape[1:] == (NUM_JOINTS, 3):
        return check_joints(array, min_frames=1, name=str(path))
    if array.ndim == 2 and array.shape[1] == FEATURE_DIM:
        from .motion.features import features_to_joints

        return check_joints(features_to_joints(array), min_frames=1, name=str(path))
    raise ValueError(
        f"{path} has shape {array.shape}: expected joints (T, {NUM_JOINTS}, 3) or features (T, {FEATURE_DIM})"
    )


def _as_list(motions) -> list:
    """A single motion (array or object) as a one-element list; a list or tuple as a list."""
    if hasattr(motions, "joints") or (isinstance(motions, np.ndarray) and motions.ndim == 3):
        return [motions]
    motions = list(motions)
    if not motions:
        raise ValueError("no motions to render: pass a (T, 22, 3) array or a list of them")
    return motions


def _chain_side(chain) -> str:
    names = [JOINT_NAMES[j] for j in chain]
    for side in ("left", "right"):
        if any(name.startswith(side + "_") for name in names):
            return side
    return "centre"


def _to_plot(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y-up data (x, y, z) to matplotlib's Z-up axes as (x, -z, y): a rotation, so left stays left."""
    return points[..., 0], -points[..., 2], points[..., 1]


class _Panel:
    """The artists of one motion's 3-D axes, updated in place for every frame."""

    def __init__(self, ax, joints: np.ndarray, fps: float, title):
        self.joints, self.fps = joints, fps
        self.root = joints[:, 0] * [1.0, 0.0, 1.0]  # the root's floor position
        padded = joints if len(joints) > 1 else np.repeat(joints, 2, axis=0)
        self.contacts = foot_contacts(padded, fps)[: len(joints)]
        ax.set_axis_off()
        ax.set_xlim(-VIEW_RADIUS, VIEW_RADIUS)
        ax.set_ylim(-VIEW_RADIUS, VIEW_RADIUS)
        ax.set_zlim(0.0, VIEW_HEIGHT)
        ax.set_box_aspect((2 * VIEW_RADIUS, 2 * VIEW_RADIUS, VIEW_HEIGHT), zoom=1.5)
        ax.view_init(elev=ELEVATION, azim=AZIMUTH)
        if title:  # plain text, not set_title, whose layout of the 3-D axes would cost half of each frame
            caption = textwrap.fill(str(title), TITLE_CHARS)
            ax.text2D(0.5, 1.0, caption, transform=ax.transAxes, ha="center", va="top", fontsize=9)
        (self.grid,) = ax.plot([], [], [], color=GRID_COLOUR, linewidth=0.8)
        (self.trajectory,) = ax.plot([], [], [], color=TRAJECTORY_COLOUR, linewidth=1.5)
        self.chains = []
        for chain in KINEMATIC_CHAINS:
            colour = COLOURS[_chain_side(chain)]
            (line,) = ax.plot([], [], [], color=colour, linewidth=2.5, marker="o", markersize=2.5)
            self.chains.append((list(chain), line))
        (self.feet,) = ax.plot([], [], [], linestyle="none", marker="o", markersize=7, color=CONTACT_COLOUR)

    def update(self, time: float) -> None:
        """Show the frame at ``time`` seconds (the last frame once the motion has ended)."""
        t = min(len(self.joints) - 1, int(np.floor(time * self.fps + 1e-6)))
        origin = self.root[t]
        pose = self.joints[t] - origin
        for chain, line in self.chains:
            line.set_data_3d(*_to_plot(pose[chain]))
        feet = pose[list(FOOT_JOINTS)][self.contacts[t]]
        self.feet.set_data_3d(*_to_plot(feet))
        trace = self.root[: t + 1] - origin
        trace[np.abs(trace).max(axis=1) > VIEW_RADIUS] = np.nan  # keep the trace inside the floor square
        self.trajectory.set_data_3d(*_to_plot(trace))
        self.grid.set_data_3d(*_to_plot(_floor_grid(origin)))


def _floor_grid(origin: np.ndarray) -> np.ndarray:
    """Floor grid lines within ``VIEW_RADIUS`` of ``origin``, relative to it, as points split by NaN rows."""
    segments = []
    for axis, other in ((0, 2), (2, 0)):
        first = np.ceil((origin[axis] - VIEW_RADIUS) / GRID_SPACING) * GRID_SPACING
        for value in np.arange(first, origin[axis] + VIEW_RADIUS, GRID_SPACING) - origin[axis]:
            segment = np.zeros((3, 3))
            segment[:2, axis] = value
            segment[:2, other] = (-VIEW_RADIUS, VIEW_RADIUS)
            segment[2] = np.nan
            segments.append(segment)
    return np.concatenate(segments)


class _Scene:
    """A figure with one panel per motion, drawn frame by frame into RGB arrays."""

    def __init__(self, motions: list, titles, fps: float, ncols: int):
        self.fps = check_fps(fps)
        if titles is not None and len(titles) != len(motions):
            raise ValueError(f"got {len(titles)} titles for {len(motions)} motions: give one per motion")
        if not isinstance(ncols, int) or ncols < 1:
            raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
        ncols = min(ncols, len(motions))
        nrows = -(-len(motions) // ncols)
        width, height = PANEL_SIZE
        self.figure = Figure(figsize=(ncols * width / DPI, nrows * height / DPI), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.97, wspace=0.0, hspace=0.05)
        self.panels = []
        for i, motion in enumerate(motions):
            joints, motion_fps, text = _unpack(motion, self.fps, i)
            ax = self.figure.add_subplot(nrows, ncols, i + 1, projection="3d")
            self.panels.append(_Panel(ax, joints, motion_fps, titles[i] if titles is not None else text))
        # A clock: it also keeps held frames distinct, which stops GIF writers from merging them.
        self.clock = self.figure.text(0.005, 0.005, "", fontsize=8, color="#606060")
        self.duration = max(len(panel.joints) / panel.fps for panel in self.panels)

    def num_frames(self, stride: int = 1) -> int:
        """Output frames for the longest motion at ``fps / stride``."""
        return max(1, int(np.ceil(self.duration * self.fps / stride - 1e-6)))

    def draw(self, time: float) -> np.ndarray:
        """The figure at ``time`` seconds as an ``(H, W, 3)`` uint8 array."""
        for panel in self.panels:
            panel.update(time)
        self.clock.set_text(f"{time:.2f} s")
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def _unpack(motion, fps: float, index: int):
    """``(joints, fps, text)`` of an array, or of an object with ``.joints``, ``.fps`` and maybe ``.text``."""
    if hasattr(motion, "joints"):
        joints, text = motion.joints, getattr(motion, "text", None)
        fps = check_fps(getattr(motion, "fps", fps))
    else:
        joints, text = motion, None
    joints = check_joints(joints, min_frames=1, name=f"motion {index}")
    if joints.ndim != 3:
        raise ValueError(f"motion {index} must have shape (T, {NUM_JOINTS}, 3), got {joints.shape}")
    return joints, fps, text
