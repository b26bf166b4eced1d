"""Gaussian diffusion maths in one place: schedule, forward noising, posterior, x0/eps conversion, loss,
DDPM and DDIM steps, and respacing onto a subset of timesteps.

Tensors are batch-first ``(B, frames, features)``; an index ``i`` counts steps of *this* (possibly respaced)
process, ``timesteps[i]`` is the original training timestep the denoiser is conditioned on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum

import numpy as np
import torch
from tqdm.auto import tqdm

COSINE_OFFSET = 0.008  # s in Nichol & Dhariwal's cosine schedule
MAX_BETA = 0.999  # betas are clipped here so the last step stays invertible


class Prediction(str, Enum):
    """What the denoiser predicts: the clean sample (MDM) or the added noise."""

    X0 = "x0"
    EPS = "eps"


class Sampler(str, Enum):
    """Reverse processes: DDPM ancestral sampling or deterministic DDIM (eta = 0 unless given)."""

    DDPM = "ddpm"
    DDIM = "ddim"


def cosine_alphas_cumprod(num_steps: int) -> np.ndarray:
    """Cumulative signal fractions of the cosine schedule, ``(num_steps,)`` float64, decreasing from ~1."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")

    def alpha_bar(fraction):
        return math.cos((fraction + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), MAX_BETA) for i in range(num_steps)]
    return np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))


class GaussianDiffusion:
    """A discrete Gaussian diffusion defined by its cumulative alphas and the model timesteps they map to."""

    def __init__(self, alphas_cumprod, timesteps=None, prediction: Prediction | str = Prediction.X0):
        ac = np.asarray(alphas_cumprod, dtype=np.float64)
        if ac.ndim != 1 or len(ac) == 0 or not np.all(np.diff(ac) < 0) or not (0 < ac[-1] and ac[0] < 1):
            raise ValueError("alphas_cumprod must be a non-empty, strictly decreasing sequence in (0, 1)")
        self.alphas_cumprod = ac
        self.timesteps = np.arange(len(ac)) if timesteps is None else np.asarray(timesteps, dtype=np.int64)
        if self.timesteps.shape != ac.shape:
            raise ValueError(f"timesteps must have {len(ac)} entries, got {self.timesteps.shape}")
        self.prediction = Prediction(prediction)

        ac_prev = np.append(1.0, ac[:-1])
        betas = 1.0 - ac / ac_prev
        self.alphas_cumprod_prev = ac_prev
        self.betas = betas
        # Posterior q(x_{i-1} | x_i, x0) = N(coef_x0 * x0 + coef_xt * x_i, variance).
        self.posterior_variance = betas * (1.0 - ac_prev) / (1.0 - ac)
        # The variance is 0 at i = 0; take the next one's log so the log stays finite (never used at i = 0).
        self.posterior_log_variance = np.log(np.append(self.posterior_variance[1:2], self.posterior_variance[1:]))
        self.posterior_coef_x0 = betas * np.sqrt(ac_prev) / (1.0 - ac)
        self.posterior_coef_xt = (1.0 - ac_prev) * np.sqrt(1.0 - betas) / (1.0 - ac)
        self._device_cache: dict = {}

    @classmethod
    def cosine(cls, num_steps: int = 1000, prediction: Prediction | str = Prediction.X0) -> GaussianDiffusion:
        """The cosine-schedule diffusion used for training (MDM: T = 1000, x0 prediction)."""
        return cls(cosine_alphas_cumprod(num_steps), prediction=prediction)

    @property
    def num_steps(self) -> int:
        return len(self.alphas_cumprod)

    def respace(self, num_steps: int) -> GaussianDiffusion:
        """The same process on ``num_steps`` evenly spaced timesteps (first and last kept), for fast sampling."""
        if not 1 <= num_steps <= self.num_steps:
            raise ValueError(f"steps must be between 1 and {self.num_steps}, got {num_steps}")
        keep = np.unique(np.round(np.linspace(0, self.num_steps - 1, num_steps)).astype(np.int64))
        return GaussianDiffusion(self.alphas_cumprod[keep], self.timesteps[keep], self.prediction)

    # -- helpers --------------------------------------------------------------------------------------------

    def _take(self, name: str, i, x: torch.Tensor) -> torch.Tensor:
        """Coefficient ``name`` at step(s) ``i`` (int or ``(B,)`` tensor), shaped to broadcast against ``x``."""
        key = (name, x.device)
        if key not in self._device_cache:
            self._device_cache[key] = torch.as_tensor(getattr(self, name), device=x.device)
        values = self._device_cache[key]
        if isinstance(i, int):
            return values[i].to(x.dtype)
        return values[i].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))

    def model_timesteps(self, i, batch: int, device) -> torch.Tensor:
        """The original timesteps ``(B,)`` that the denoiser is conditioned on at step ``i``."""
        return torch.full((batch,), int(self.timesteps[i]), dtype=torch.long, device=device)

    # -- forward process and conversions ---------------------------------------------------------------------

    def q_sample(self, x0: torch.Tensor, i, noise: torch.Tensor) -> torch.Tensor:
        """Noise ``x0`` to step ``i``: sqrt(abar) x0 + sqrt(1 - abar) noise."""
        abar = self._take("alphas_cumprod", i, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def x0_from_eps(self, x_t: torch.Tensor, i, eps: torch.Tensor) -> torch.Tensor:
        abar = self._take("alphas_cumprod", i, x_t)
        return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()

    def eps_from_x0(self, x_t: torch.Tensor, i, x0: torch.Tensor) -> torch.Tensor:
        abar = self._take("alphas_cumprod", i, x_t)
        return (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()

    def predict_x0(self, output: torch.Tensor, x_t: torch.Tensor, i) -> torch.Tensor:
        """The clean-sample estimate implied by the denoiser's output under this process's prediction target."""
        return output if self.prediction is Prediction.X0 else self.x0_from_eps(x_t, i, output)

    def posterior(self, x0: torch.Tensor, x_t: torch.Tensor, i) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(x_{i-1} | x_i, x0)."""
        mean = self._take("posterior_coef_x0", i, x_t) * x0 + self._take("posterior_coef_xt", i, x_t) * x_t
        return mean, self._take("posterior_log_variance", i, x_t)

    # -- training --------------------------------------------------------------------------------------------

    def training_loss(
        self, output: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Masked MSE between the denoiser output and its target (x0 or noise), averaged over valid entries.

        ``mask`` is ``(B, frames)`` with True on real frames; padded frames contribute nothing.
        """
        target = x0 if self.prediction is Prediction.X0 else noise
        weights = mask.to(output.dtype).unsqueeze(-1)
        squared = (output.float() - target.float()) ** 2 * weights
        return squared.sum() / (weights.sum() * output.shape[-1]).clamp(min=1)

    # -- reverse steps ---------------------------------------------------------------------------------------

    def ddpm_step(self, x0: torch.Tensor, x_t: torch.Tensor, i: int, noise: torch.Tensor) -> torch.Tensor:
        """One ancestral step x_i -> x_{i-1} with the fixed small (posterior) variance; no noise at i = 0."""
        mean, log_variance = self.posterior(x0, x_t, i)
        if i == 0:
            return mean
        return mean + torch.exp(0.5 * log_variance) * noise

    def ddim_step(
        self, x0: torch.Tensor, x_t: torch.Tensor, i: int, noise: torch.Tensor | None = None, eta: float = 0.0
    ) -> torch.Tensor:
        """One DDIM step x_i -> x_{i-1}; eta = 0 is deterministic, eta = 1 matches DDPM's variance."""
        eps = self.eps_from_x0(x_t, i, x0)
        abar = float(self.alphas_cumprod[i])
        abar_prev = float(self.alphas_cumprod_prev[i])
        sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev))
        x_prev = math.sqrt(abar_prev) * x0 + math.sqrt(1 - abar_prev - sigma**2) * eps
        if sigma > 0 and i > 0:
            if noise is None:
                raise ValueError("a DDIM step with eta > 0 needs noise")
            x_prev = x_prev + sigma * noise
        return x_prev

    def sample(
        self,
        denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        x_t: torch.Tensor,
        sampler: Sampler | str = Sampler.DDIM,
        generator: torch.Generator | None = None,
        eta: float = 0.0,
        progress: bool = False,
    ) -> torch.Tensor:
        """Run the reverse process from pure noise ``x_t`` over all steps of this (respaced) diffusion.

        ``denoise(x, t)`` returns the denoiser's raw output for model timesteps ``t`` ``(B,)``. Step noise is
        drawn on the CPU from ``generator`` so results do not depend on the device.
        """
        sampler = Sampler(sampler)
        needs_noise = sampler is Sampler.DDPM or eta > 0
        x = x_t
        for i in tqdm(range(self.num_steps - 1, -1, -1), desc=sampler.value, disable=not progress, leave=False):
            t = self.model_timesteps(i, x.shape[0], x.device)
            x0 = self.predict_x0(denoise(x, t), x, i)
            noise = None
            if needs_noise and i > 0:
                noise = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
            if sampler is Sampler.DDPM:
                x = self.ddpm_step(x0, x, i, noise)
            else:
                x = self.ddim_step(x0, x, i, noise, eta)
        return x
