"""Design-space exploration: co-design sweeps over weight bits, timesteps and hardware size,
with a simulation cache and the Pareto front of accuracy, latency and energy.

``sweep(snn, x, labels, "pynq-z2-accel", bits=..., timesteps=..., pes=...)`` evaluates every
combination (see :mod:`spikeforge.explore.codesign`) through the :class:`Target` interface, one
implementation per kind of hardware (:mod:`spikeforge.explore.target`); :func:`pareto_front` keeps the
non-dominated points; :mod:`spikeforge.explore.report` writes the table, CSV and PNG.
"""

from spikeforge.explore.cache import Simulated, SimulationCache
from spikeforge.explore.codesign import (
    OBJECTIVES,
    SweepResult,
    pareto_front,
    pareto_mask,
    sweep,
)
from spikeforge.explore.target import (
    AcceleratorTarget,
    CrossbarTarget,
    DesignPoint,
    Evaluation,
    Target,
    as_target,
    crossbar_variant,
)

__all__ = [
    "OBJECTIVES",
    "AcceleratorTarget",
    "CrossbarTarget",
    "DesignPoint",
    "Evaluation",
    "Simulated",
    "SimulationCache",
    "SweepResult",
    "Target",
    "as_target",
    "crossbar_variant",
    "pareto_front",
    "pareto_mask",
    "sweep",
]
