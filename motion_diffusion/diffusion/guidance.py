"""Classifier-free guidance: the conditional and unconditional passes batched into one forward call."""

from __future__ import annotations

from collections.abc import Callable

import torch


def guided_denoiser(
    model: torch.nn.Module, text: torch.Tensor, mask: torch.Tensor, scale: float
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``denoise(x, t)`` for a sampler: ``uncond + scale * (cond - uncond)`` from one doubled-batch forward.

    ``model(x, t, text, mask, drop_text)`` is the denoiser; ``drop_text`` True selects its learned null
    condition. ``scale == 1`` is plain conditional sampling and runs a single (undoubled) pass.
    """
    batch = text.shape[0]
    if scale == 1.0:
        keep = torch.zeros(batch, dtype=torch.bool, device=text.device)
        return lambda x, t: model(x, t, text, mask, keep)

    text2 = torch.cat([text, text])
    mask2 = torch.cat([mask, mask])
    drop2 = torch.cat([torch.zeros(batch, dtype=torch.bool), torch.ones(batch, dtype=torch.bool)]).to(text.device)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = model(torch.cat([x, x]), torch.cat([t, t]), text2, mask2, drop2)
        cond, uncond = out.chunk(2)
        return uncond + scale * (cond - uncond)

    return denoise
