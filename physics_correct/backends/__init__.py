"""Simulation backends that run a controller plan: ``mujoco_cpu`` (default, one clip per process) and ``mjx``
(JAX: clips batched with vmap, for GPUs)."""


class SimulationError(ValueError):
    """The simulation became unstable (NaN/Inf, exploding velocities) or stopped at a fall (``on_fall="stop"``)."""
