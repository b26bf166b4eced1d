"""Batch correction of a HumanML3D-layout folder: bad clips, resume after a real kill, Ray-local equivalence."""

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from motion_diffusion.data.humanml3d import load_dataset, read_split
from motion_diffusion.data.procedural.build import build_dataset
from motion_diffusion.motion.skeleton import FEATURE_DIM, NUM_JOINTS
from physics_correct.batch import CONFIG_FILE, REPORT_FILE, SUMMARY_FILE, correct_dataset, parse_options

GOOD = ("good_0", "good_1", "good_2", "good_3", "good_4")  # the 5 shortest clips of a small embedded dataset
BAD = {  # name -> a phrase of the error it must be reported with
    "bad_missing": "feature file is missing",
    "bad_nan": "NaN",
    "bad_pose": "absurd pose",  # readable, but the correction raises
    "bad_shape": "shape",
    "bad_short": "at least 4 frames",
    "bad_unreadable": "cannot read",
}
SPLIT_FILES = {
    "train": ["good_1", "bad_nan", "good_0", "bad_pose", "bad_missing"],
    "val": ["good_2", "bad_short"],
    "test": ["good_4", "bad_shape", "good_3", "bad_unreadable"],
}
POLL_SECONDS = 0.01
KILL_DEADLINE_SECONDS = 120
TIMING_FIELDS = ("seconds",)


def _snapshot(folder: Path) -> dict:
    """Content hash and modification time of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _records(dst: Path) -> list[dict]:
    lines = (dst / REPORT_FILE).read_text().split("\n")[:-1]
    return [json.loads(line) for line in lines]


def _assert_same_outputs(dst: Path, ref_dst: Path) -> None:
    """The corrected features and joints of the good clips are identical in both folders."""
    for folder in ("new_joint_vecs", "new_joints"):
        for name in GOOD:
            np.testing.assert_array_equal(
                np.load(dst / folder / f"{name}.npy"), np.load(ref_dst / folder / f"{name}.npy")
            )


def _without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING_FIELDS}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny HumanML3D folder of 5 short embedded clips and 6 bad ones, and its snapshot."""
    embedded = tmp_path_factory.mktemp("embedded")
    build_dataset(embedded, num_clips=20, seed=0, workers=1)
    lengths = {p.stem: len(np.load(p)) for p in (embedded / "new_joint_vecs").glob("*.npy")}
    shortest = sorted(lengths, key=lambda name: (lengths[name], name))[: len(GOOD)]
    src = tmp_path_factory.mktemp("src")
    for folder, suffix in (("new_joint_vecs", ".npy"), ("new_joints", ".npy"), ("texts", ".txt")):
        (src / folder).mkdir()
        for name, original in zip(GOOD, shortest, strict=True):
            shutil.copy(embedded / folder / f"{original}{suffix}", src / folder / f"{name}{suffix}")
    for name in ("Mean.npy", "Std.npy"):
        shutil.copy(embedded / name, src)
    good = np.load(src / "new_joint_vecs" / f"{GOOD[0]}.npy")
    nan = good.copy()
    nan[5, 7] = np.nan
    np.save(src / "new_joint_vecs" / "bad_nan.npy", nan)
    np.save(src / "new_joint_vecs" / "bad_pose.npy", good * 3)
    np.save(src / "new_joint_vecs" / "bad_shape.npy", good[:, :200])
    np.save(src / "new_joint_vecs" / "bad_short.npy", good[:3])
    (src / "new_joint_vecs" / "bad_unreadable.npy").write_bytes(b"not an npy file")
    for name in BAD:
        shutil.copy(src / "texts" / f"{GOOD[0]}.txt", src / "texts" / f"{name}.txt")
    for split, names in SPLIT_FILES.items():
        (src / f"{split}.txt").write_text("".join(n + "\n" for n in names))
    return src, _snapshot(src)


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory):
    """An uninterrupted run in this process, one worker."""
    src, _ = source
    dst = tmp_path_factory.mktemp("reference") / "dst"
    return dst, correct_dataset(src, dst, progress=False)


def test_bad_clips_reported_rest_finished_source_untouched(source, reference):
    src, snapshot = source
    dst, summary = reference
    assert _snapshot(src) == snapshot

    records = {r["clip"]: r for r in _records(dst)}
    assert len(records) == len(_records(dst)) == len(GOOD) + len(BAD)
    for name, phrase in BAD.items():
        assert not records[name]["ok"] and phrase in records[name]["error"], records[name]
    for name in GOOD:
        record = records[name]
        assert record["ok"] and record["error"] is None
        assert record["input"] == f"new_joint_vecs/{name}.npy" and record["seconds"] > 0
        assert record["falls"] >= 0 and record["assist_mean_n"] >= 0 and 0 < record["mpjpe_mm"] < 100
        assert set(record["metrics_before"]) == set(record["metrics_after"]) >= {"phys_err_mm", "skate_mm"}
        source_features = np.load(src / "new_joint_vecs" / f"{name}.npy")
        features = np.load(dst / "new_joint_vecs" / f"{name}.npy")
        assert features.shape == source_features.shape and np.isfinite(features).all()
        assert not np.array_equal(features, source_features)  # it was corrected, not copied
        assert np.load(dst / "new_joints" / f"{name}.npy").shape == (len(features), NUM_JOINTS, 3)
        assert (dst / "texts" / f"{name}.txt").read_bytes() == (src / "texts" / f"{name}.txt").read_bytes()

    # Failed clips leave no file in DST and are dropped from its splits; Mean/Std are copied untouched.
    assert sorted(p.stem for p in (dst / "new_joint_vecs").glob("*.npy")) == sorted(GOOD)
    assert sorted(p.stem for p in (dst / "texts").glob("*.txt")) == sorted(GOOD)
    for split, names in SPLIT_FILES.items():
        assert read_split(dst, split) == [n for n in names if n in GOOD]
    for name in ("Mean.npy", "Std.npy"):
        assert (dst / name).read_bytes() == (src / name).read_bytes()
    assert summary["ok"] == len(GOOD) and summary["failed"] == len(BAD) and summary["skipped"] == 0
    assert summary["metrics_after"]["phys_err_mm"] == pytest.approx(
        np.mean([records[n]["metrics_after"]["phys_err_mm"] for n in GOOD])
    )
    assert "bad_pose" in (dst / SUMMARY_FILE).read_text()

    # The project's own readers accept DST.
    from motion_diffusion.training import MotionTextSet

    for split, names in SPLIT_FILES.items():
        dataset = load_dataset(dst, split, strict=True)
        assert [e.name for e in dataset.entries] == [n for n in names if n in GOOD]
        assert dataset.skipped == []
    clips, normalizer = MotionTextSet.from_humanml3d(dst, "train")
    assert len(clips.features) == len([n for n in SPLIT_FILES["train"] if n in GOOD])
    np.testing.assert_array_equal(normalizer.mean, np.load(src / "Mean.npy"))
    assert clips.features[0].shape[1] == FEATURE_DIM


def test_resume_after_real_kill(source, reference, tmp_path):
    src, snapshot = source
    ref_dst, _ = reference
    dst = tmp_path / "dst"
    command = [sys.executable, "-m", "physics_correct.batch", str(src), str(dst), "--no-progress"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + KILL_DEADLINE_SECONDS
    try:
        while '"ok": true' not in ((dst / REPORT_FILE).read_text() if (dst / REPORT_FILE).is_file() else ""):
            assert first.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "no clip finished in time"
            time.sleep(POLL_SECONDS)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not (dst / SUMMARY_FILE).exists()  # it really died mid-run

    done_first = {r["clip"]: r for r in _records(dst)}
    done_ok = [name for name, record in done_first.items() if record["ok"]]
    assert 1 <= len(done_ok) < len(GOOD)
    stats = {name: (dst / "new_joint_vecs" / f"{name}.npy").stat() for name in done_ok}
    # What else a kill can leave: a half-written temporary file and a truncated report line.
    (dst / "new_joint_vecs" / f".{GOOD[-1]}.npy.abc123.tmp").write_bytes(b"half")
    with open(dst / REPORT_FILE, "a") as f:
        f.write('{"clip": "0000')

    rerun = subprocess.run([*command, "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"| {len(GOOD) + len(BAD)} | {len(GOOD)} | {len(BAD)} | {len(done_first)} |" in rerun.stdout

    records = _records(dst)
    assert sorted(r["clip"] for r in records) == sorted([*GOOD, *BAD])  # every clip exactly once
    assert not list(dst.rglob("*.tmp"))
    by_clip = {r["clip"]: r for r in records}
    for name, record in done_first.items():  # not redone: same report line, same file
        assert by_clip[name] == record
    for name, before in stats.items():
        after = (dst / "new_joint_vecs" / f"{name}.npy").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    reference_records = {r["clip"]: _without_timing(r) for r in _records(ref_dst)}
    assert {name: _without_timing(r) for name, r in by_clip.items()} == reference_records
    _assert_same_outputs(dst, ref_dst)
    for split in SPLIT_FILES:
        assert read_split(dst, split) == read_split(ref_dst, split)
    assert _snapshot(src) == snapshot


def test_ray_local_gives_the_local_outputs(source, reference, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]')")
    src, snapshot = source
    ref_dst, _ = reference
    dst = tmp_path / "dst"
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        summary = correct_dataset(src, dst, ray_address="local", progress=False)
    finally:
        ray.shutdown()
    assert summary["ok"] == len(GOOD) and summary["failed"] == len(BAD)
    reference_records = {r["clip"]: _without_timing(r) for r in _records(ref_dst)}
    assert {r["clip"]: _without_timing(r) for r in _records(dst)} == reference_records
    _assert_same_outputs(dst, ref_dst)
    assert _snapshot(src) == snapshot


def test_arguments_are_checked(source, tmp_path):
    src, _ = source
    assert parse_options(["assist_force=0", "on_fall=stop", "balance=false", "control_substeps=2"]) == {
        "assist_force": 0.0,
        "on_fall": "stop",
        "balance": False,
        "control_substeps": 2,
    }
    for bad in (["assist_force"], ["nope=1"], ["balance=maybe"], ["control_substeps=two"]):
        with pytest.raises(ValueError):
            parse_options(bad)
    with pytest.raises(ValueError, match="outside the source"):
        correct_dataset(src, src / "out", progress=False)
    dst = tmp_path / "dst"
    summary = correct_dataset(src, dst, limit=0, progress=False)
    assert summary["clips"] == 0 and json.loads((dst / CONFIG_FILE).read_text())["options"] == {}
    with pytest.raises(ValueError, match="same source and options"):
        correct_dataset(src, dst, limit=0, progress=False, assist_force=0.0)
    assert not (src / "out").exists()
