"""Simulation backends that run a controller plan: ``mujoco_cpu`` (default)."""


class SimulationError(ValueError):
    """The simulation became unstable (NaN/Inf, exploding velocities) or stopped at a fall (``on_fall="stop"``)."""
