"""The self-consuming loop: a miniature run of 2 generations with the real physics corrector, a resume after a
real kill, the pluggable corrector with gamma and its failure rule, settings and the CLI."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from motion_diffusion.data.procedural.build import build_dataset
from motion_diffusion.evaluator import EvaluatorConfig, EvaluatorTrainConfig, train_evaluator
from motion_diffusion.loop.__main__ import build_parser, config_from_args
from motion_diffusion.loop.config import Arm, LoopConfig, preset_config
from motion_diffusion.loop.correction import correct_synthetic, correction_stats
from motion_diffusion.loop.report import plot_metrics, read_results, summary_table, write_report
from motion_diffusion.loop.run import RECORD_FILE, LoopRun, load_set
from motion_diffusion.motion.motion import Motion

# A miniature experiment: 8 real clips, 4 synthetic motions of ~2 s per generation, 2 generations.
MINI = [
    "n=8",
    "lambdas=[0.5]",
    "generations=2",
    "gen0_steps=4",
    "steps_per_generation=3",
    "batch_size=4",
    "sampling_steps=2",
    "synthetic_frames=[40,44]",
    'corrector_options={"workers": 1}',
    "eval_size=6",
    "eval_pool=4",
    "eval_diversity_pairs=4",
    "eval_repeats=2",
    "eval_steps=2",
    "showcase_seconds=1.0",
    'showcase_prompts=["a person walks forward","a person jumps"]',
]


def _args(data, out, extra=()):
    argv = ["--out", str(out), "--data", str(data)]
    for item in [*MINI, *extra]:
        argv += ["--set", item]
    return argv


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small embedded dataset (20 clips + mirrors) with a small evaluator trained on it."""
    root = tmp_path_factory.mktemp("embedded")
    build_dataset(root, num_clips=20, seed=1, workers=1)
    architecture = EvaluatorConfig(width=32, layers=1, heads=2, ffn=64, embed_dim=16)
    train_evaluator(
        root, root / "evaluator", EvaluatorTrainConfig(epochs=1, batch_size=8), architecture, progress=False
    )
    return root


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "run"
    config = config_from_args(build_parser().parse_args(_args(data, out)))
    run = LoopRun(config, out, progress=False)
    run.run()
    return run


def _eval_numbers(rows):
    return {(r["arm"], r["generation"]): (r.get("eval"), r.get("correction")) for r in rows}


def test_every_arm_and_generation_has_one_row(finished):
    rows = read_results(finished.out)
    arms = [a.name for a in finished.config.arms]
    assert arms == ["baseline_seed0", "no_correction_lam0.5_seed0", "correction_lam0.5_gammainf_seed0"]
    assert sorted((r["arm"], r["generation"]) for r in rows) == sorted((a, g) for a in arms for g in range(3))
    for row in rows:
        assert {"fid", "diversity", "R@3", "physics/phys_err_mm"} <= set(row["eval"])
        assert all(math.isfinite(v["mean"]) for v in row["eval"].values())
    by_arm = {(r["arm"], r["generation"]): r for r in rows}
    # generation 0 is shared: the same numbers in every arm
    assert len({json.dumps(by_arm[(a, 0)]["eval"], sort_keys=True) for a in arms}) == 1
    assert by_arm[("baseline_seed0", 1)]["training_clips"] == 8
    assert by_arm[("no_correction_lam0.5_seed0", 1)]["correction"]["corrected"] == 0
    corrected = by_arm[("correction_lam0.5_gammainf_seed0", 2)]
    stats = corrected["correction"]
    assert stats["synthetic"] == 4 and stats["corrected"] == 4
    assert corrected["training_clips"] == 8 + 4 - stats["dropped"]
    assert stats["mpjpe_mm_mean"] > 0  # the physics corrector moved the motions
    assert "phys_err_mm" in corrected["synthetic_physics"]


def test_correction_changes_the_synthetic_set_and_no_correction_keeps_it(finished):
    """Both arms start from generation 0 with the same prompts and noise: the same raw synthetic set."""
    raw = {}
    for arm in finished.config.arms[1:]:
        folder = finished.step_dir(arm, 2)
        features, texts = load_set(folder / "corrected")
        raw[arm.kind] = (features, texts)
        assert len(texts) == len(features)
    # generation 1 was pruned (keep_generations=1); generation 2 is on disk
    assert not (finished.step_dir(finished.config.arms[1], 1) / "synthetic").exists()
    assert not (finished.step_dir(finished.config.arms[1], 1) / "train" / "checkpoints").exists()
    assert (finished.step_dir(finished.config.arms[1], 1) / RECORD_FILE).is_file()
    no_corr = finished.step_dir(finished.config.arms[1], 2)
    synthetic, _ = load_set(no_corr / "synthetic")
    kept, _ = load_set(no_corr / "corrected")
    assert all(np.array_equal(a, b) for a, b in zip(synthetic, kept, strict=True))
    corr = finished.step_dir(finished.config.arms[2], 2)
    before, _ = load_set(corr / "synthetic")
    after, _ = load_set(corr / "corrected")
    assert len(after) <= len(before)
    assert all(len(a) == len(b) - 1 for a, b in zip(after, before, strict=False))  # joints -> features: T - 1
    assert not any(np.allclose(a, b[:-1], atol=1e-3) for a, b in zip(after, before, strict=False))


def test_report_files(finished):
    paths = write_report(finished)
    assert paths["plot"].stat().st_size > 10_000
    assert [p.name for p in paths["gifs"]] == ["generation_000.gif", "generation_001.gif", "generation_002.gif"]
    table = summary_table(finished.out)
    assert "no correction, λ=0.5" in table and "correction γ=∞, λ=0.5" in table and "4/4" in table


def test_a_killed_run_resumes_to_the_same_results(data, finished, tmp_path):
    """SIGKILL the CLI in the middle of generation 1, start it again: same numbers as the run never killed."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "motion_diffusion.loop", *_args(data, out), "--no-gifs"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = out / "arms" / "baseline_seed0" / "gen_001" / RECORD_FILE
    deadline = time.time() + 300
    while not target.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_record = target.stat().st_mtime_ns
    assert not (out / "arms" / "correction_lam0.5_gammainf_seed0" / "gen_002" / RECORD_FILE).exists()

    config = config_from_args(build_parser().parse_args(_args(data, out)))
    LoopRun(config, out, progress=False).run()
    assert target.stat().st_mtime_ns == first_record  # finished work is not redone
    resumed = _eval_numbers(read_results(out))
    reference = _eval_numbers(read_results(finished.out))
    assert resumed.keys() == reference.keys()
    for key, (metrics, stats) in reference.items():
        assert resumed[key][1] == stats, key
        for name, value in metrics.items():
            assert resumed[key][0][name]["mean"] == pytest.approx(value["mean"], rel=1e-6, abs=1e-9), (key, name)
    assert not list(out.rglob(".*.tmp*")) and not [p for p in out.rglob(".*") if p.is_dir()]


def test_resuming_with_other_settings_is_refused(finished):
    changed = LoopConfig.from_dict({**finished.config.to_dict(), "lr": 0.5})
    with pytest.raises(ValueError, match="other settings.*lr"):
        LoopRun(changed, finished.out, progress=False)


def test_a_failed_start_binds_no_settings(data, tmp_path):
    """A start that fails (here: no evaluator) leaves no loop.json, so a corrected rerun is not refused."""
    bad = config_from_args(build_parser().parse_args(_args(data, tmp_path / "run", ["evaluator=/no/such/folder"])))
    with pytest.raises((ValueError, FileNotFoundError)):
        LoopRun(bad, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "loop.json").exists()


def _walk(length=50, seed=0):
    t = np.arange(length) / 20.0
    joints = np.tile(np.linspace(0, 1.5, 22)[None, :, None] * [0, 1, 0], (length, 1, 1)) + [0.0, 0.0, 0.0]
    joints = joints + np.random.default_rng(seed).normal(0, 0.01, joints.shape)
    joints[:, :, 2] += t[:, None]
    return joints


def shift_up(motions, amount=0.1, fail_text="bad"):
    """A corrector for the test: raises on a whole batch holding a motion captioned ``fail_text``."""
    if any(m.text == fail_text for m in motions):
        raise RuntimeError("cannot correct this one")
    return [Motion(m.joints + [0.0, amount, 0.0], fps=m.fps, text=m.text) for m in motions]


@pytest.mark.parametrize("rule", ["drop", "raw"])
def test_a_failed_correction_is_recorded_and_handled_by_the_rule(rule):
    features = [Motion(_walk(seed=i)).to_features() for i in range(4)]
    texts = ["ok 0", "bad", "ok 2", "ok 3"]
    result = correct_synthetic(features, texts, 1.0, np.random.default_rng(0), shift_up, {}, rule)
    stats = correction_stats(result.records)
    assert stats["corrected"] == 4 and stats["failed"] == 1
    assert "cannot correct this one" in result.records[1]["error"]
    if rule == "drop":
        assert result.texts == ["ok 0", "ok 2", "ok 3"] and stats["dropped"] == 1
    else:
        assert result.texts == texts and np.array_equal(result.features[1], features[1])
    good = result.features[0]
    assert good.shape == (len(features[0]) - 1, features[0].shape[1])
    assert not np.allclose(good, features[0][:-1])


def falling_corrector(motions):
    """A corrector for the test whose report says the motion captioned "fall <k>" fell k times."""
    results = []
    for m in motions:
        falls = int(m.text.split()[1]) if m.text.startswith("fall") else 0
        results.append(SimpleNamespace(motion=Motion(m.joints + [0.0, 0.1, 0.0], fps=m.fps), report={"falls": falls}))
    return results


@pytest.mark.parametrize(
    ("max_falls", "kept"), [(None, ["ok", "fall 1", "fall 3"]), (1, ["ok", "fall 1"]), (0, ["ok"])]
)
def test_a_correction_that_fell_too_often_counts_as_failed(max_falls, kept):
    features = [Motion(_walk(seed=i)).to_features() for i in range(3)]
    texts = ["ok", "fall 1", "fall 3"]
    result = correct_synthetic(features, texts, 1.0, np.random.default_rng(0), falling_corrector, {}, "drop", max_falls)
    assert result.texts == kept
    rejected = [r for r in result.records if r.get("error")]
    assert [r["text"] for r in rejected] == texts[len(kept) :]
    assert all(f"max_falls={max_falls}" in r["error"] for r in rejected)
    stats = correction_stats(result.records)
    assert stats["failed"] == stats["dropped"] == stats["too_many_falls"] == 3 - len(kept) and stats["fell"] == 2


@pytest.mark.parametrize(("gamma", "expected"), [(0.5, 2), (1.0, 3), (3.0, 4), (math.inf, 6)])
def test_gamma_sets_the_corrected_fraction(gamma, expected):
    arm = Arm("correction", 0, 1.0, gamma)
    features = [Motion(_walk(seed=i)).to_features() for i in range(6)]
    result = correct_synthetic(features, list("abcdef"), arm.corrected_fraction, np.random.default_rng(1), shift_up, {})
    assert sum(r["corrected"] for r in result.records) == expected
    moved = [not np.array_equal(f, g) for f, g in zip(result.features, features, strict=True)]
    assert sum(moved) == expected


def test_settings_are_checked():
    with pytest.raises(ValueError, match="gammas"):
        LoopConfig(gammas=(0.0,))
    with pytest.raises(ValueError, match="max_falls"):
        LoopConfig(max_falls=-1)
    with pytest.raises(ValueError, match="optimizer"):
        LoopConfig(optimizer="adam")
    with pytest.raises(ValueError, match="module:function"):
        LoopConfig(corrector="physics_correct.correct")
    with pytest.raises(ValueError, match="unknown loop settings"):
        LoopConfig.from_dict({"lamdas": [1]})
    with pytest.raises(ValueError, match="unknown loop preset"):
        preset_config("paper-100")
    paper = preset_config("paper-64")
    assert paper.n == 64 and paper.lambdas == (0.25, 0.5, 0.75, 1.0) and paper.generations == 50
    assert len(paper.arms) == 1 + 4 * 2
    assert paper.max_falls is None and preset_config("embedded").max_falls == 0  # the paper keeps fallen corrections
    assert LoopConfig(generations=5, eval_every=2).evaluated_generations == [0, 2, 4, 5]
    args = build_parser().parse_args(["--out", "x", "--set", "gammas=[0.5,inf]", "--set", "corrector=a.b:c"])
    config = config_from_args(args)
    assert config.gammas == (0.5, math.inf) and config.corrector == "a.b:c"
    assert LoopConfig.from_dict(config.to_dict()) == config


def test_motion_diffusion_never_imports_physics_correct():
    """The loop reaches its corrector only through the import path in its settings."""
    import ast
    from pathlib import Path

    import motion_diffusion

    offenders = []
    for path in Path(motion_diffusion.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "physics_correct"]
    assert offenders == []


def test_the_report_pools_seeds(tmp_path):
    """Several seeds of an arm become one plotted line and one summary row: the mean over the seeds with 1.96
    standard errors of it (one seed keeps its evaluation interval)."""
    rows = []
    for seed, fid in ((0, 0.10), (1, 0.20), (2, 0.30)):
        for generation in (0, 1):
            rows.append(
                {
                    "arm": f"no_correction_lam1_seed{seed}",
                    "label": "no correction, λ=1",
                    "kind": "no_correction",
                    "seed": seed,
                    "generation": generation,
                    "eval": {"fid": {"mean": fid + generation, "ci": 0.01, "n": 5}},
                }
            )
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    table = summary_table(tmp_path)
    pooled = [line for line in table.splitlines() if "mean of 3 seeds" in line]
    spread = 1.96 * np.std([1.1, 1.2, 1.3], ddof=1) / np.sqrt(3)
    assert len(pooled) == 1 and f"1.200±{spread:.3f}" in pooled[0]
    assert sum("(seed " in line for line in table.splitlines()) == 3
    assert plot_metrics(tmp_path).is_file()
