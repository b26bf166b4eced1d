"""Physics correction of motions: a MuJoCo SMPL humanoid tracks a motion and the simulated motion is returned.

``from physics_correct import correct``. Importing the package does not import torch (nor MuJoCo, until used).
"""

from .correct import correct

__all__ = ["correct"]
