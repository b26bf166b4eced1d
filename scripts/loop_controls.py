"""Control correctors for the self-consuming loop: they separate what the physics corrector's filter does from
what its correction does. Plug one in through the loop's corrector setting, with this folder on the path:

    PYTHONPATH=scripts make train-loop LOOP_OUT=runs/filter_only LOOP_ARGS='--set corrector=loop_controls:filter_only'
    PYTHONPATH=scripts make train-loop LOOP_OUT=runs/random_drop LOOP_ARGS='--set corrector=loop_controls:random_drop'

With the default ``max_falls=0`` and ``on_failure=drop``, a motion reported as fallen is dropped.
"""

import zlib
from types import SimpleNamespace

import numpy as np

from physics_correct import correct

RANDOM_DROP = 0.3  # about the share of generated motions whose physics correction falls in the embedded demo


def filter_only(motions, **options):
    """The physics corrector's report and errors (so its falls decide what is dropped), the motions unchanged."""
    motions = list(motions)
    results = correct(motions, **options)
    return [SimpleNamespace(motion=m, report=r.report, error=r.error) for m, r in zip(motions, results, strict=True)]


def random_drop(motions, **options):
    """No physics: the motions unchanged, a random ``RANDOM_DROP`` share reported as fallen (seeded by the motion
    itself, so a rerun drops the same ones)."""
    results = []
    for m in motions:
        seed = zlib.crc32(np.ascontiguousarray(m.joints, dtype=np.float32).tobytes())
        fell = np.random.default_rng(seed).random() < RANDOM_DROP
        results.append(SimpleNamespace(motion=m, report={"falls": int(fell)}, error=None))
    return results
