"""The denoiser: presets, padding-mask invariance, null condition, checkpoint folders."""

import numpy as np
import pytest
import torch

from motion_diffusion.model import (
    PRESETS,
    ModelConfig,
    MotionDenoiser,
    check_compatible,
    load_denoiser,
    read_config,
    resolve_checkpoint,
    save_checkpoint,
)
from motion_diffusion.model.checkpoint import checkpoint_name
from motion_diffusion.motion.normalize import Normalizer
from motion_diffusion.motion.skeleton import FEATURE_DIM, MAX_FRAMES

TEXT_DIM = 24


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MotionDenoiser(ModelConfig.from_preset("tiny", TEXT_DIM)).eval()


def test_mdm_preset_matches_mdm_size():
    config = ModelConfig.from_preset("mdm", text_dim=512)
    assert (config.width, config.layers, config.heads, config.ffn, config.dropout) == (512, 8, 4, 1024, 0.1)
    count = sum(p.numel() for p in MotionDenoiser(config).parameters())
    assert count == pytest.approx(17.88e6, rel=2e-3)  # MDM's trainable parameters without CLIP
    assert config.max_frames == MAX_FRAMES
    with pytest.raises(ValueError, match="unknown model preset"):
        ModelConfig.from_preset("huge", 512)
    assert set(PRESETS) == {"tiny", "mdm"}


def test_output_shape_and_padding_does_not_change_real_frames(model):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 80, FEATURE_DIM, generator=gen)
    t = torch.tensor([3, 700])
    text = torch.randn(2, TEXT_DIM, generator=gen)
    lengths = [40, 80]
    mask = torch.arange(80)[None] < torch.tensor(lengths)[:, None]
    with torch.no_grad():
        out = model(x, t, text, mask)
        assert out.shape == x.shape
        # The same first motion alone, unpadded, and with different junk in its padding.
        alone = model(x[:1, :40], t[:1], text[:1], mask[:1, :40])
        junk = x.clone()
        junk[0, 40:] = 50 * torch.randn(40, FEATURE_DIM, generator=gen)
        with_junk = model(junk, t, text, mask)
    torch.testing.assert_close(out[0, :40], alone[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(with_junk[0, :40], out[0, :40], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(with_junk[1], out[1], atol=1e-4, rtol=1e-4)


def test_timestep_and_text_change_the_output_but_not_under_the_null_condition(model):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 30, FEATURE_DIM, generator=gen)
    mask = torch.ones(1, 30, dtype=torch.bool)
    text_a, text_b = torch.randn(1, TEXT_DIM, generator=gen), torch.randn(1, TEXT_DIM, generator=gen)
    drop = torch.ones(1, dtype=torch.bool)
    with torch.no_grad():
        a = model(x, torch.tensor([10]), text_a, mask)
        assert not torch.allclose(a, model(x, torch.tensor([900]), text_a, mask), atol=1e-3)
        assert not torch.allclose(a, model(x, torch.tensor([10]), text_b, mask), atol=1e-3)
        null_a = model(x, torch.tensor([10]), text_a, mask, drop)
        null_b = model(x, torch.tensor([10]), text_b, mask, drop)
    torch.testing.assert_close(null_a, null_b)


def test_null_embedding_is_learned(model):
    model.train()
    try:
        x = torch.randn(2, 12, FEATURE_DIM)
        out = model(
            x,
            torch.tensor([1, 2]),
            torch.randn(2, TEXT_DIM),
            torch.ones(2, 12, dtype=torch.bool),
            torch.tensor([True, False]),
        )
        out.square().mean().backward()
        assert model.null_text.grad is not None and model.null_text.grad.abs().sum() > 0
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()


def test_too_many_frames_is_a_clear_error(model):
    frames = MAX_FRAMES + 4
    with pytest.raises(ValueError, match="exceed the model's maximum"):
        model(
            torch.zeros(1, frames, FEATURE_DIM),
            torch.tensor([0]),
            torch.zeros(1, TEXT_DIM),
            torch.ones(1, frames, dtype=torch.bool),
        )


def _config(preset="tiny", text="minilm"):
    return {
        "model": ModelConfig.from_preset(preset, TEXT_DIM).to_dict(),
        "diffusion": {"schedule": "cosine", "steps": 1000, "prediction": "x0"},
        "text_encoder": {"name": text, "dim": TEXT_DIM, "cache_key": "k", "clip_path": None},
        "step": 7,
    }


def test_checkpoint_roundtrip_with_ema_and_stats(model, tmp_path):
    rng = np.random.default_rng(0)
    normalizer = Normalizer(rng.normal(size=FEATURE_DIM), rng.uniform(0.5, 2, FEATURE_DIM))
    ema = {n: p.detach() + 1.0 for n, p in model.named_parameters()}
    run = tmp_path / "run"
    for step in (3, 7):
        save_checkpoint(run / "checkpoints" / checkpoint_name(step), _config(), model, normalizer, ema, {"step": step})
    latest = resolve_checkpoint(run)
    assert latest.name == checkpoint_name(7) and read_config(run)["step"] == 7
    loaded, config = load_denoiser(run, use_ema=False)
    x, t = torch.randn(1, 9, FEATURE_DIM), torch.tensor([4])
    text, mask = torch.randn(1, TEXT_DIM), torch.ones(1, 9, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, text, mask), model(x, t, text, mask), rtol=0, atol=0)
    ema_model, _ = load_denoiser(latest, use_ema=True)
    torch.testing.assert_close(ema_model.text_proj.weight, model.text_proj.weight + 1.0)
    stats = Normalizer.load(latest)
    np.testing.assert_array_equal(stats.mean, normalizer.mean)
    assert not list(run.glob("checkpoints/.*")), "no temporary folder may be left behind"


def test_incompatible_or_missing_checkpoints_are_clear_errors(tmp_path):
    config = _config()
    check_compatible(config, "tiny", "minilm")
    with pytest.raises(ValueError, match="preset 'tiny', not 'mdm'"):
        check_compatible(config, "mdm", "minilm")
    with pytest.raises(ValueError, match="text encoder 'minilm', not 'clip'"):
        check_compatible(config, "tiny", "clip")
    with pytest.raises(ValueError, match="neither a checkpoint folder"):
        resolve_checkpoint(tmp_path)


def test_text_whitening_spreads_alike_captions_and_travels_with_the_checkpoint(tmp_path):
    """Embeddings that share one large component (as sentence embeddings of captions do) come out decorrelated."""
    generator = torch.Generator().manual_seed(0)
    shared = torch.randn(TEXT_DIM, generator=generator)
    embeddings = shared + 0.1 * torch.randn(200, TEXT_DIM, generator=generator)
    model = MotionDenoiser(ModelConfig.from_preset("tiny", TEXT_DIM)).eval()
    assert model.config.whiten_text and not MotionDenoiser(ModelConfig.from_preset("mdm", TEXT_DIM)).config.whiten_text
    model.fit_text_whitening(embeddings)

    def mean_cosine(x):
        x = torch.nn.functional.normalize(x, dim=1)
        return ((x @ x.T).sum() - len(x)) / (len(x) * (len(x) - 1))

    white = (embeddings - model.text_mean) @ model.text_whitening
    assert mean_cosine(embeddings) > 0.9 and abs(mean_cosine(white)) < 0.05
    variances = torch.linalg.eigvalsh(white.T.double() @ white.double() / len(white))
    assert variances.max() < 1.0 and variances.min() > 0.5  # whitened up to the shrinkage
    assert not model.text_whitening.requires_grad and not model.text_mean.requires_grad

    ema = {n: p.detach() for n, p in model.named_parameters()}
    stats = Normalizer(np.zeros(FEATURE_DIM), np.ones(FEATURE_DIM))
    save_checkpoint(tmp_path / "ckpt", _config(), model, stats, ema, {})
    loaded, _ = load_denoiser(tmp_path / "ckpt")
    torch.testing.assert_close(loaded.text_whitening, model.text_whitening, rtol=0, atol=0)
    x, t, mask = torch.randn(2, 9, FEATURE_DIM), torch.tensor([4, 4]), torch.ones(2, 9, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, embeddings[:2], mask), model(x, t, embeddings[:2], mask))
