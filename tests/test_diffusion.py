"""Diffusion maths: schedule, forward process, posterior, samplers (against an analytic oracle), guidance."""

import math

import numpy as np
import pytest
import torch

from motion_diffusion.diffusion import GaussianDiffusion, Prediction, cosine_alphas_cumprod, guided_denoiser
from motion_diffusion.model import ModelConfig, MotionDenoiser

T = 1000


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion.cosine(T)


def test_cosine_schedule_matches_closed_form():
    ac = cosine_alphas_cumprod(T)
    s = 0.008
    f = np.cos((np.arange(1, T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2 / np.cos(s / (1 + s) * np.pi / 2) ** 2
    # Before beta clipping kicks in (the last few steps), abar is exactly f(t) / f(0).
    np.testing.assert_allclose(ac[: T - 20], f[: T - 20], rtol=1e-9)
    assert np.all(np.diff(ac) < 0) and 0 < ac[-1] < 1e-6 and ac[0] > 0.9999


def test_q_sample_has_the_right_moments(diffusion):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1), 0.7)
    for i in (10, 500, 900):
        x = diffusion.q_sample(x0, torch.full((20000,), i), torch.randn(x0.shape, generator=gen))
        abar = diffusion.alphas_cumprod[i]
        assert abs(x.mean().item() - math.sqrt(abar) * 0.7) < 0.02
        assert abs(x.var().item() - (1 - abar)) < 0.03


def test_posterior_equals_gaussian_conditioning(diffusion):
    # For fixed x0, (x_{i-1}, x_i) is jointly Gaussian; condition x_{i-1} on x_i by the textbook formula.
    ac, ac_prev = diffusion.alphas_cumprod, diffusion.alphas_cumprod_prev
    x0, xt = torch.tensor([[[0.3]]]), torch.tensor([[[-1.1]]])
    for i in (1, 250, 998):
        alpha = ac[i] / ac_prev[i]
        cov = math.sqrt(alpha) * (1 - ac_prev[i])
        gain = cov / (1 - ac[i])
        expected_mean = math.sqrt(ac_prev[i]) * 0.3 + gain * (-1.1 - math.sqrt(ac[i]) * 0.3)
        expected_var = (1 - ac_prev[i]) - gain * cov
        mean, log_var = diffusion.posterior(x0, xt, i)
        assert mean.item() == pytest.approx(expected_mean, rel=1e-5, abs=1e-6)
        assert math.exp(log_var.item()) == pytest.approx(expected_var, rel=1e-5)


def test_eps_and_x0_conversions_invert_each_other(diffusion):
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 5, 263, generator=gen), torch.randn(4, 5, 263, generator=gen)
    i = torch.tensor([0, 10, 500, 999])
    xt = diffusion.q_sample(x0, i, eps)
    torch.testing.assert_close(diffusion.eps_from_x0(xt, i, x0), eps, atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(diffusion.x0_from_eps(xt[:3], i[:3], eps[:3]), x0[:3], atol=1e-3, rtol=1e-3)


def test_respacing_keeps_marginals(diffusion):
    spaced = diffusion.respace(50)
    assert spaced.num_steps == 50 and spaced.timesteps[0] == 0 and spaced.timesteps[-1] == T - 1
    np.testing.assert_array_equal(spaced.alphas_cumprod, diffusion.alphas_cumprod[spaced.timesteps])
    # The respaced betas compose back to the original noise levels.
    np.testing.assert_allclose(np.cumprod(1 - spaced.betas), spaced.alphas_cumprod, rtol=1e-10)
    full = diffusion.respace(T)
    np.testing.assert_array_equal(full.timesteps, np.arange(T))
    with pytest.raises(ValueError, match="steps must be between"):
        diffusion.respace(0)


def _oracle(diffusion, mu, sigma, prediction):
    """Exact denoiser for data ~ N(mu, sigma^2) per dimension: E[x0 | x_t], or the matching noise."""

    def denoise(x, t):
        abar = torch.as_tensor(diffusion.alphas_cumprod[t.numpy()], dtype=x.dtype).view(-1, 1, 1)
        x0 = mu + sigma**2 * abar.sqrt() / (sigma**2 * abar + 1 - abar) * (x - abar.sqrt() * mu)
        if prediction is Prediction.X0:
            return x0
        return (x - abar.sqrt() * x0) / (1 - abar).sqrt()

    return denoise


@pytest.mark.parametrize(
    "sampler, steps, prediction, tolerance",
    [("ddpm", T, Prediction.X0, 0.03), ("ddim", 50, Prediction.X0, 0.06), ("ddim", 50, Prediction.EPS, 0.06)],
)
def test_samplers_recover_a_gaussian_with_the_exact_denoiser(sampler, steps, prediction, tolerance):
    mu, sigma = 0.5, 0.3
    base = GaussianDiffusion.cosine(T, prediction)
    spaced = base.respace(steps)
    gen = torch.Generator().manual_seed(2)
    noise = torch.randn(1000, 1, 8, generator=gen)
    out = spaced.sample(_oracle(base, mu, sigma, prediction), noise, sampler, gen)
    assert abs(out.mean().item() - mu) < 0.01
    assert out.std().item() == pytest.approx(sigma, rel=tolerance)


def test_ddim_is_deterministic_and_ddpm_depends_on_the_generator(diffusion):
    spaced = diffusion.respace(20)
    denoise = _oracle(diffusion, 0.0, 1.0, Prediction.X0)
    noise = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(0))
    a = spaced.sample(denoise, noise, "ddim", torch.Generator().manual_seed(1))
    b = spaced.sample(denoise, noise, "ddim", torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = spaced.sample(denoise, noise, "ddpm", torch.Generator().manual_seed(1))
    d = spaced.sample(denoise, noise, "ddpm", torch.Generator().manual_seed(2))
    assert not torch.allclose(c, d)


def test_training_loss_ignores_padded_frames(diffusion):
    gen = torch.Generator().manual_seed(3)
    x0, noise, out = (torch.randn(2, 6, 263, generator=gen) for _ in range(3))
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    loss = diffusion.training_loss(out, x0, noise, mask)
    expected = (((out - x0) ** 2).sum(-1) * mask).sum() / (mask.sum() * 263)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    out2 = out.clone()
    out2[1, 3:] += 100.0
    assert diffusion.training_loss(out2, x0, noise, mask).item() == pytest.approx(loss.item(), rel=1e-6)
    eps_loss = GaussianDiffusion.cosine(T, "eps").training_loss(noise, x0, noise, mask)
    assert eps_loss.item() == 0.0


def test_guidance_is_one_doubled_forward_and_mixes_outputs():
    torch.manual_seed(0)
    model = MotionDenoiser(ModelConfig.from_preset("tiny", text_dim=16)).eval()
    calls = []
    model.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    x, t = torch.randn(3, 10, 263), torch.tensor([5, 500, 900])
    text, mask = torch.randn(3, 16), torch.ones(3, 10, dtype=torch.bool)
    with torch.no_grad():
        guided = guided_denoiser(model, text, mask, 2.5)(x, t)
        assert calls == [6]
        cond = model(x, t, text, mask, torch.zeros(3, dtype=torch.bool))
        uncond = model(x, t, text, mask, torch.ones(3, dtype=torch.bool))
        plain = guided_denoiser(model, text, mask, 1.0)(x, t)
    torch.testing.assert_close(guided, uncond + 2.5 * (cond - uncond), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(plain, cond)
    assert calls[-1] == 3
