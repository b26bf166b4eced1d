"""The embedded text-annotated motion dataset: procedural, physically plausible clips in HumanML3D layout."""

from .build import build_dataset

__all__ = ["build_dataset"]
