"""Design-space exploration: co-design sweeps over weight bits, timesteps and hardware size,
with a simulation cache and the Pareto front of accuracy, latency and energy.

``sweep(snn, x, labels, "pynq-z2-accel", bits=..., timesteps=..., pes=...)`` evaluates every
combination (see :mod:`spikeforge.explore.codesign`); :func:`pareto_front` keeps the
non-dominated points; :mod:`spikeforge.explore.report` writes the table, CSV and PNG.
"""

from spikeforge.explore.cache import Simulated, SimulationCache
from spikeforge.explore.codesign import (
    OBJECTIVES,
    DesignPoint,
    Evaluation,
    SweepResult,
    crossbar_variant,
    load_target,
    pareto_front,
    pareto_mask,
    sweep,
)

__all__ = [
    "OBJECTIVES",
    "DesignPoint",
    "Evaluation",
    "Simulated",
    "SimulationCache",
    "SweepResult",
    "crossbar_variant",
    "load_target",
    "pareto_front",
    "pareto_mask",
    "sweep",
]
