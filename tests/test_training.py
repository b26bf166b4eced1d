"""Training loop: batches, exact resume, fine-tuning checks, bad data, and DDP with two gloo processes."""

import dataclasses
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from motion_diffusion.model.checkpoint import list_checkpoints, load_state
from motion_diffusion.motion.normalize import Normalizer
from motion_diffusion.motion.skeleton import FEATURE_DIM, MIN_FRAMES, UNIT_LENGTH
from motion_diffusion.text import TextEmbedder, load_text_encoder
from motion_diffusion.training import MotionTextSet, TrainConfig, Trainer, crop_length, epoch_batches, train

ACTIONS = ["walks forward", "jumps up", "waves", "sits down"]


def _clips(num=12, seed=0):
    rng = np.random.default_rng(seed)
    features, captions = [], []
    for i in range(num):
        length = int(rng.integers(MIN_FRAMES, 90))
        features.append(np.cumsum(rng.normal(0, 0.1, (length, FEATURE_DIM)), axis=0).astype(np.float32))
        action = ACTIONS[i % len(ACTIONS)]
        captions.append([f"a person {action}", f"someone {action} slowly"])
    return features, captions


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Clips, their Mean/Std, and a caption cache filled once with the real MiniLM encoder."""
    features, captions = _clips()
    cache = tmp_path_factory.mktemp("text_cache")
    embedder = TextEmbedder("minilm", cache_dir=cache, encoder=load_text_encoder("minilm"))
    embedder.embed(sorted({c for texts in captions for c in texts}))
    embedder.save()
    return MotionTextSet(features, captions), Normalizer.fit(features), cache


def _config(**overrides):
    settings = dict(steps=6, batch_size=4, save_every=100, log_every=2, seed=3)
    return TrainConfig(**{**settings, **overrides})


def test_epoch_batches_are_full_distinct_and_seeded():
    lengths = np.random.default_rng(0).integers(40, 196, size=203)
    batches = epoch_batches(lengths, 8, seed=1, epoch=0)
    assert len(batches) == 203 // 8 and all(len(b) == 8 for b in batches)
    flat = np.concatenate(batches)
    assert len(np.unique(flat)) == len(flat)
    again = epoch_batches(lengths, 8, seed=1, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, epoch_batches(lengths, 8, 1, 1), strict=True))
    # Bucketing: lengths inside a batch are much closer than in a random batch.
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.3 * np.ptp(lengths)


def test_crop_lengths_follow_humanml3d():
    rng = np.random.default_rng(0)
    crops = [crop_length(n, 196, rng) for n in (40, 41, 77, 199) for _ in range(60)]
    assert all(c % UNIT_LENGTH == 0 for c in crops)
    assert {crop_length(199, 196, rng) for _ in range(60)} == {192, 196}
    assert {crop_length(41, 196, rng) for _ in range(60)} == {36, 40}


def test_batches_are_normalised_padded_and_captioned(setup, tmp_path):
    data, normalizer, cache = setup
    trainer = Trainer(data, tmp_path, _config(), normalizer, cache_dir=cache, progress=False)
    x0, mask, text = trainer.make_batch(0)
    assert x0.shape[0] == 4 and x0.shape[2] == FEATURE_DIM and mask.shape == x0.shape[:2]
    lengths = mask.sum(1).numpy()
    assert all(n % UNIT_LENGTH == 0 for n in lengths) and x0.shape[1] == lengths.max()
    assert torch.all(x0[~mask] == 0)
    # Every text embedding is one of the captions of the clip it was drawn with.
    indices = trainer._batch_indices(0)
    table = {c: trainer.text_table[i] for i, c in enumerate(dict.fromkeys(sum(data.captions, [])))}
    for row, k in enumerate(indices):
        assert any(torch.equal(text[row], table[c]) for c in data.captions[k])
    torch.testing.assert_close(trainer.make_batch(0)[0], x0)  # a step's batch is reproducible


def test_loss_decreases_and_csv_log_is_written(setup, tmp_path):
    data, normalizer, cache = setup
    train(data, tmp_path, _config(steps=60, log_every=20, lr=1e-3), normalizer, cache_dir=cache, progress=False)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "step,loss,grad_norm,lr,steps_per_s" and len(rows) == 4
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert losses[-1] < 0.9 * losses[0]
    assert (tmp_path / "run.json").is_file()


def test_resume_is_exact(setup, tmp_path):
    data, normalizer, cache = setup
    straight = train(data, tmp_path / "a", _config(steps=6), normalizer, cache_dir=cache, progress=False)
    train(data, tmp_path / "b", _config(steps=3), normalizer, cache_dir=cache, progress=False)
    resumed = train(data, tmp_path / "b", _config(steps=6), normalizer, cache_dir=cache, progress=False)
    assert resumed.name == straight.name
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(straight / name), load_file(resumed / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    first_init = load_file(list_checkpoints(tmp_path / "b")[0] / "model.safetensors")
    assert not all(torch.equal(first_init[k], a[k]) for k in a)
    opt_a, opt_b = load_state(straight)["optimizer"]["state"], load_state(resumed)["optimizer"]["state"]
    assert all(torch.equal(opt_a[k]["exp_avg_sq"], opt_b[k]["exp_avg_sq"]) for k in opt_a)
    log_steps = [r.split(",")[0] for r in (tmp_path / "b" / "log.csv").read_text().splitlines()[1:]]
    assert log_steps == ["2", "3", "4", "6"]


def test_cosine_schedule_decays_to_zero_and_resumes_exactly(setup, tmp_path):
    data, normalizer, cache = setup
    config = _config(steps=6, log_every=1, lr=1e-3, lr_schedule="cosine")
    straight = train(data, tmp_path / "a", config, normalizer, cache_dir=cache, progress=False)
    rates = [float(r.split(",")[3]) for r in (tmp_path / "a" / "log.csv").read_text().splitlines()[1:]]
    assert rates[0] == pytest.approx(1e-3) and all(b < a for a, b in zip(rates, rates[1:], strict=False))
    assert rates[-1] == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 5 / 6)))  # the lr of the last step
    interrupted = dataclasses.replace(config, max_minutes=1e-6)
    train(data, tmp_path / "b", interrupted, normalizer, cache_dir=cache, progress=False)
    resumed = train(data, tmp_path / "b", config, normalizer, cache_dir=cache, progress=False)
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="linear")


def test_time_budget_stops_with_a_checkpoint_and_resumes(setup, tmp_path):
    data, normalizer, cache = setup
    first = train(data, tmp_path, _config(steps=5, max_minutes=1e-6), normalizer, cache_dir=cache, progress=False)
    assert first.name == "step_00000001"  # the budget was spent after the first step
    final = train(data, tmp_path, _config(steps=5), normalizer, cache_dir=cache, progress=False)
    assert final.name == "step_00000005"


def test_fine_tuning_checks_the_checkpoint(setup, tmp_path):
    data, normalizer, cache = setup
    source = train(data, tmp_path / "gen0", _config(steps=2), normalizer, cache_dir=cache, progress=False)
    tuned = Trainer(data, tmp_path / "gen1", _config(), init_from=source, cache_dir=cache, progress=False)
    weights = load_file(source / "model.safetensors")
    assert all(torch.equal(p, weights[n]) for n, p in tuned.model.named_parameters())
    np.testing.assert_array_equal(tuned.normalizer.std, normalizer.std)
    assert tuned.step == 0  # fine-tuning starts a fresh optimiser and step count
    with pytest.raises(ValueError, match="preset 'tiny', not 'mdm'"):
        Trainer(data, tmp_path / "x", _config(preset="mdm"), init_from=source, cache_dir=cache)
    other = Normalizer(normalizer.mean + 1, normalizer.std)
    with pytest.raises(ValueError, match="Mean/Std given differ"):
        Trainer(data, tmp_path / "y", _config(), other, init_from=source, cache_dir=cache)


def test_unusable_data_and_settings_are_clear_errors():
    short = [np.zeros((MIN_FRAMES - 1, FEATURE_DIM), np.float32)]
    with pytest.raises(ValueError, match="no usable clip"):
        MotionTextSet(short, [["a person walks"]])
    with pytest.raises(ValueError, match="no usable clip"):
        MotionTextSet([np.zeros((60, FEATURE_DIM), np.float32)], [["  "]])
    with pytest.raises(ValueError, match="unknown text encoder"):
        TrainConfig(text_encoder="glove")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        TrainConfig(steps=0)


def _ddp_worker(rank, port, data, normalizer, cache, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        trainer = Trainer(data, out, _config(steps=2, batch_size=3), normalizer, cache_dir=cache, progress=False)
        indices = trainer._batch_indices(0)
        trainer.run()
        params = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        torch.save({"params": params, "indices": torch.as_tensor(indices)}, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_stay_identical(setup, tmp_path):
    data, normalizer, cache = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(port, data, normalizer, cache, tmp_path), nprocs=2, join=True)
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert not torch.equal(rank0["indices"], rank1["indices"])  # each rank trained on its own batch
    assert all(torch.equal(rank0["params"][n], rank1["params"][n]) for n in rank0["params"])
    saved = load_file(list_checkpoints(tmp_path)[-1] / "model.safetensors")
    assert all(torch.equal(saved[n], rank0["params"][n]) for n in saved)
