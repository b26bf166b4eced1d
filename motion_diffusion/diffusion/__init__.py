"""Diffusion process (schedule, loss, DDPM/DDIM samplers, respacing) and classifier-free guidance."""

from .gaussian import GaussianDiffusion, Prediction, Sampler, cosine_alphas_cumprod
from .guidance import guided_denoiser

__all__ = ["GaussianDiffusion", "Prediction", "Sampler", "cosine_alphas_cumprod", "guided_denoiser"]
