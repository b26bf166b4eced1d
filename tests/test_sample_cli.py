"""generate() and the train/sample command lines, end to end on a small HumanML3D-layout folder."""

import json

import numpy as np
import pytest

from motion_diffusion import sample as sample_cli
from motion_diffusion import train as train_cli
from motion_diffusion.data.humanml3d import Caption, write_dataset
from motion_diffusion.generation import check_request, generate, load_model, sample_features
from motion_diffusion.motion import Motion, load_bvh
from motion_diffusion.motion.skeleton import FEATURE_DIM, FPS, MAX_FRAMES, MIN_FRAMES, NUM_JOINTS

ACTIONS = ["walks forward", "jumps", "waves both arms", "turns around"]


def _write_folder(root, num, length_range, seed=0):
    rng = np.random.default_rng(seed)
    clips = {}
    for i in range(num):
        length = int(rng.integers(*length_range))
        features = np.cumsum(rng.normal(0, 0.05, (length, FEATURE_DIM)), axis=0).astype(np.float32)
        features[:, 3] += 0.9  # a plausible root height
        clips[f"{i:06d}"] = (features, [Caption(f"a person {ACTIONS[i % len(ACTIONS)]}", ())])
    names = sorted(clips)
    write_dataset(root, clips, {"train": names[:-2], "test": names[-2:]})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model trained for a few steps with the train command."""
    root = tmp_path_factory.mktemp("data")
    _write_folder(root, 14, (MIN_FRAMES, 80))
    out = tmp_path_factory.mktemp("run")
    argv = ["--data", str(root), "--out", str(out), "--preset", "tiny", "--steps", "4", "--batch-size", "4"]
    train_cli.main([*argv, "--log-every", "2", "--no-progress"])
    return out


@pytest.fixture(scope="module")
def model(run):
    return load_model(run, device="cpu")


def test_train_command_writes_a_resumable_run(run):
    config = json.loads(next(run.glob("checkpoints/step_*/config.json")).read_text())
    assert config["step"] == 4 and config["model"]["preset"] == "tiny"
    assert config["text_encoder"]["name"] == "minilm" and config["text_encoder"]["dim"] == 384
    assert (run / "log.csv").is_file() and (run / "run.json").is_file()


def test_generate_is_seeded_and_respects_lengths(model):
    texts = ["a person jumps", "a person walks forward", "a person jumps"]
    motions = generate(model, texts, [FPS, 44, 60], steps=5, seed=7)
    assert [m.num_frames for m in motions] == [FPS, 44, 60]
    assert all(isinstance(m, Motion) and m.fps == FPS for m in motions)
    assert [m.text for m in motions] == texts
    again = generate(model, texts, [FPS, 44, 60], steps=5, seed=7)
    for a, b in zip(motions, again, strict=True):
        np.testing.assert_array_equal(a.joints, b.joints)
    other = generate(model, texts, [FPS, 44, 60], steps=5, seed=8)
    assert not np.allclose(motions[1].joints, other[1].joints)


def test_samplers_and_guidance_give_finite_features(model):
    for sampler, guidance in (("ddpm", 2.5), ("ddim", 1.0), ("ddim", 0.0)):
        (features,) = sample_features(
            model, ["a person waves"], 24, steps=4, guidance=guidance, seed=0, sampler=sampler
        )
        assert features.shape == (24, FEATURE_DIM) and np.isfinite(features).all()


def test_bad_requests_are_clear_errors(model, run):
    with pytest.raises(ValueError, match="no captions given"):
        check_request([], 40, MAX_FRAMES)
    with pytest.raises(ValueError, match="no captions given"):
        generate(model, None, 40)
    with pytest.raises(ValueError, match="non-empty strings"):
        check_request(["ok", ""], 40, MAX_FRAMES)
    with pytest.raises(ValueError, match=r"length 19 frames \(0.95 s\) is out of range"):
        check_request(["walk"], FPS - 1, MAX_FRAMES)
    with pytest.raises(ValueError, match="out of range"):
        generate(model, ["walk"], MAX_FRAMES + 1)
    with pytest.raises(ValueError, match="one length per caption"):
        check_request(["a", "b"], [40], MAX_FRAMES)
    with pytest.raises(ValueError, match="whole frame counts"):
        check_request(["a"], [40.5], MAX_FRAMES)
    with pytest.raises(ValueError, match="neither a checkpoint folder"):
        load_model(run / "log.csv")


def test_sample_command_writes_every_output(run, tmp_path):
    out = tmp_path / "samples"
    sample_cli.main(
        [
            "--ckpt",
            str(run),
            "--text",
            "a person jumps forward",
            "--seconds",
            "1.5",
            "--num",
            "2",
            "--steps",
            "3",
            "--out",
            str(out),
        ]
    )
    info = json.loads((out / "samples.json").read_text())
    assert [s["text"] for s in info["samples"]] == ["a person jumps forward"] * 2
    frames = round(1.5 * FPS)
    for k in range(2):
        features = np.load(out / f"sample_{k:03d}.npy")
        joints = np.load(out / f"sample_{k:03d}_joints.npy")
        assert features.shape == (frames, FEATURE_DIM) and joints.shape == (frames, NUM_JOINTS, 3)
        bvh_joints, bvh_fps = load_bvh(out / f"sample_{k:03d}.bvh", up="y")
        assert bvh_fps == pytest.approx(FPS) and bvh_joints.shape == joints.shape
        assert (out / f"sample_{k:03d}.gif").stat().st_size > 0
    recovered = Motion.from_features(np.load(out / "sample_001.npy")).joints
    np.testing.assert_allclose(np.load(out / "sample_001_joints.npy"), recovered, atol=1e-5)


def test_commands_report_bad_input(run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sample_cli.main(["--ckpt", str(run), "--text", "walk", "--seconds", "0.5", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sample_cli.main(["--ckpt", str(tmp_path), "--text", "walk", "--out", str(tmp_path)])
    assert "neither a checkpoint folder" in capsys.readouterr().err
    data = run.parent / "other_data"
    with pytest.raises(SystemExit):
        train_cli.main(["--data", str(data), "--out", str(run), "--preset", "mdm", "--steps", "8"])
    assert "does not exist" in capsys.readouterr().err
    _write_folder(data, 6, (MIN_FRAMES, 60), seed=1)
    with pytest.raises(SystemExit):
        train_cli.main(["--data", str(data), "--out", str(run), "--preset", "mdm", "--steps", "8"])
    assert "preset 'tiny', not 'mdm'" in capsys.readouterr().err
    short = tmp_path / "short"
    _write_folder(short, 6, (MIN_FRAMES - 10, MIN_FRAMES - 1))
    with pytest.raises(SystemExit):
        train_cli.main(["--data", str(short), "--out", str(tmp_path / "r"), "--steps", "2"])
    assert "no usable clip" in capsys.readouterr().err
