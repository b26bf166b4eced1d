"""Physics correction of motions: a MuJoCo SMPL humanoid tracks a motion and the simulated motion is returned.

``from physics_correct import correct``. Importing the package does not import torch.
"""


def __getattr__(name):
    if name == "correct":
        from .correct import correct

        return correct
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
