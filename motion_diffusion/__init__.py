"""Text-to-motion diffusion (MDM-style) in the HumanML3D format, and the self-consuming training loop.

Importing the package is cheap and does not import torch: ``generate`` loads on first use.
"""

__version__ = "0.1.0"


def __getattr__(name):
    if name == "generate":
        from .generation import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
