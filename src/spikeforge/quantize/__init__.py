"""Quantisation of converted SNNs to hardware bit-widths, and overflow-aware integer simulation.

``quantize(snn, weight_bits=8, threshold_bits=16, ...)`` folds every scale into integer
weights, biases, gains and thresholds, and decay factors into integers of ``leak_bits``
fraction bits (see :mod:`spikeforge.quantize.core`);
``simulate_integer(qnet, x, timesteps, membrane_bits)`` runs the result with saturating,
counted membrane registers; ``record_trace`` records the per-timestep activity the
accelerator model (:mod:`spikeforge.hardware.accelerator`) consumes.
"""

from spikeforge.quantize.core import (
    QuantizedNetwork,
    check_bits,
    load_quantized,
    quantize,
    quantize_decay,
    quantize_weights,
    save_quantized,
)
from spikeforge.quantize.integer_sim import (
    IntegerResult,
    LayerTrace,
    SpikeTrace,
    record_trace,
    simulate_integer,
)
from spikeforge.quantize.qat import qat

__all__ = [
    "IntegerResult",
    "LayerTrace",
    "QuantizedNetwork",
    "SpikeTrace",
    "check_bits",
    "load_quantized",
    "qat",
    "quantize",
    "quantize_decay",
    "quantize_weights",
    "record_trace",
    "save_quantized",
    "simulate_integer",
]
