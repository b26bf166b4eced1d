"""Stick-figure rendering: frame counts, sizes, formats, the CLI and what the frames show."""

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest

from motion_diffusion import viz
from motion_diffusion.motion import Motion
from motion_diffusion.motion.skeleton import NUM_JOINTS, PARENTS, TARGET_OFFSETS
from motion_diffusion.render import main
from motion_diffusion.viz import render_frame, render_grid, render_motions

WIDTH, HEIGHT = viz.PANEL_SIZE


def stepping(num_frames=12, speed=0.02):
    """The rest pose, lowest joint on the floor, gliding forward ``speed`` m per frame with arms swinging."""
    pose = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        pose[j] = pose[PARENTS[j]] + TARGET_OFFSETS[j]
    pose[:, 1] -= pose[:, 1].min()
    t = np.arange(num_frames)
    joints = np.repeat(pose[None], num_frames, axis=0) + (t * speed)[:, None, None] * [0.0, 0.0, 1.0]
    joints[:, 18:, 2] += 0.1 * np.sin(t)[:, None]  # elbows and wrists
    return joints


def frame_count(path):
    return iio.improps(path).shape[0]


def colour_mask(image, colour, tol=40):
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.abs(image.astype(int) - rgb).sum(axis=-1) < tol


def test_gif_has_one_frame_per_motion_frame(tmp_path):
    path = render_motions(stepping(12), tmp_path / "one.gif", titles=["a person walks forward"])
    assert iio.improps(path).shape == (12, HEIGHT, WIDTH, 3)
    frames = iio.imread(path)
    assert not np.array_equal(frames[0], frames[-1])  # the figure moves


def test_side_by_side_pads_the_shorter_motion(tmp_path):
    motions, titles = [stepping(8), stepping(12)], ["short", "long"]
    path = render_motions(motions, tmp_path / "two.gif", titles=titles)
    assert iio.improps(path).shape == (12, HEIGHT, 2 * WIDTH, 3)
    early, late = (render_frame(motions, time=k / 20, titles=titles)[: HEIGHT - 20] for k in (7, 11))
    assert np.array_equal(early[:, :WIDTH], late[:, :WIDTH])  # the short one holds its last frame
    assert not np.array_equal(early[:, WIDTH:], late[:, WIDTH:])  # (rows above the clock, which ticks on)


def test_grid_layout_and_stride(tmp_path):
    motions = [stepping(10) for _ in range(5)]
    path = render_grid(motions, tmp_path / "grid.gif", ncols=3, stride=2)
    assert iio.improps(path).shape == (5, 2 * HEIGHT, 3 * WIDTH, 3)


def test_mp4_output(tmp_path):
    path = render_motions(stepping(12), tmp_path / "one.mp4")
    assert path.stat().st_size > 0
    with imageio.get_reader(path) as reader:
        assert reader.count_frames() == 12
        assert reader.get_meta_data()["fps"] == pytest.approx(20.0)


def test_motion_objects_use_their_own_fps_and_text(tmp_path):
    motion = Motion(stepping(24), fps=40, text="a person glides forward")
    path = render_motions([motion, stepping(6)], tmp_path / "objects.gif")
    assert frame_count(path) == 12  # 0.6 s at the output's 20 fps


def test_frame_shows_an_upright_coloured_figure_with_contacts():
    image = render_frame(stepping(12), time=0.0, titles=["standing"])
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    rows = {name: np.nonzero(colour_mask(image, colour))[0] for name, colour in viz.COLOURS.items()}
    assert all(len(r) > 50 for r in rows.values())  # left limbs, right limbs and spine are all drawn
    feet = np.nonzero(colour_mask(image, viz.CONTACT_COLOUR))[0]
    assert len(feet) > 20
    assert feet.mean() > rows["centre"].mean()  # feet (on the floor) below the spine: Y-up shown upright
    airborne = render_frame(stepping(12) + [0.0, 0.5, 0.0])
    assert colour_mask(airborne, viz.CONTACT_COLOUR).sum() == 0


def test_cli_renders_joints_and_features(tmp_path):
    from motion_diffusion.motion.features import features_to_joints, joints_to_features

    joints = stepping(12)
    np.save(tmp_path / "joints.npy", joints)
    features = joints_to_features(joints)
    np.save(tmp_path / "features.npy", features)
    out = tmp_path / "cli.gif"
    inputs = [str(tmp_path / "joints.npy"), str(tmp_path / "features.npy")]
    assert main([*inputs, "-o", str(out), "--titles", "a", "b"]) == 0
    assert iio.improps(out).shape == (max(12, len(features_to_joints(features))), HEIGHT, 2 * WIDTH, 3)


def test_cli_reports_bad_input(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((12, 21, 3)))
    with pytest.raises(SystemExit) as error:
        main([str(tmp_path / "bad.npy"), "-o", str(tmp_path / "out.gif")])
    assert error.value.code == 2 and "shape (12, 21, 3)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.npy"), "-o", str(tmp_path / "out.gif")])
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out.gif").exists()


@pytest.mark.parametrize(
    ("motions", "name", "kwargs", "match"),
    [
        (np.zeros((12, 21, 3)), "x.gif", {}, "shape"),
        (np.zeros((2, 3, 12, 22, 3)), "x.gif", {}, "shape"),
        (np.full((12, 22, 3), np.nan), "x.gif", {}, "NaN"),
        ([], "x.gif", {}, "no motions"),
        (stepping(), "x.png", {}, "format"),
        (stepping(), "x.gif", {"titles": ["a", "b"]}, "titles"),
        (stepping(), "x.gif", {"fps": 0}, "fps"),
        (stepping(), "x.gif", {"stride": 0}, "stride"),
    ],
)
def test_bad_input_raises(tmp_path, motions, name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        render_motions(motions, tmp_path / name, **kwargs)
    assert not (tmp_path / name).exists()
