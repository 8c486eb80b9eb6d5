"""A network run on the accelerator model: its spike trains recorded
(:func:`~spikeforge.quantize.record_trace`), then evaluated cycle by cycle
(:func:`~spikeforge.hardware.accelerator.accelerator_report`).

Here, above both, so that the hardware model never imports the simulator that feeds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from spikeforge.api import ArrayLike, public
from spikeforge.hardware.accelerator import (
    AcceleratorReport,
    AcceleratorSpec,
    accelerator_report,
    load_accelerator,
    network_costs,
)
from spikeforge.ir.network import Network
from spikeforge.quantize.core import QuantizedNetwork
from spikeforge.quantize.integer_sim import record_trace

__all__ = ["accelerate"]


@public
def accelerate(net: QuantizedNetwork | Network, x: ArrayLike, hw: AcceleratorSpec | str | os.PathLike,
               timesteps: int, *, batch_size: int = 64, on_batch: Callable[[int], None] | None = None) -> AcceleratorReport:
    """Run ``net`` on ``x`` and evaluate its actual spike trains on the accelerator ``hw``, with
    the costs of its neurons' dynamics (:func:`~spikeforge.hardware.accelerator.network_costs`).

    Parameters
    ----------
    net : QuantizedNetwork or Network
        A quantised network (integer run on quantised inputs) or a float SNN.
    x : array (N, *input_shape)
        Analog inputs.
    hw : AcceleratorSpec or str
        Spec, preset name or TOML file.
    timesteps : int
    batch_size : int
        Samples simulated at once.
    on_batch : callable, optional
        Called with the number of samples run after each batch (progress bars).

    Returns
    -------
    AcceleratorReport

    Raises
    ------
    InvalidHardwareSpecError
        Unknown preset or invalid spec.
    InvalidDataError
        ``x`` does not match the network's input.
    NotConvertedError
        ``net`` is not an SNN.
    SimulationError
        ``timesteps`` < 1.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeforge.ir import network as ir
    >>> net = ir.Network((ir.Input("x", (), (4,)), ir.Linear("fc", ("x",), np.ones((8, 4), np.float32)),
    ...                   ir.IF("n", ("fc",), threshold=np.float32(2.0))), ("n",))
    >>> r = accelerate(net, np.ones((2, 4), np.float32), "pynq-z2-accel", timesteps=4)
    >>> r.ops_per_inference, r.effective_gops <= r.peak_gops
    (128.0, True)
    """
    hw = load_accelerator(hw)
    trace = record_trace(net, x, timesteps, granularity=hw.assignment.granularity, batch_size=batch_size,
                         on_batch=on_batch)
    network = net.network if isinstance(net, QuantizedNetwork) else net
    input_bits = net.input_bits if isinstance(net, QuantizedNetwork) else 8
    return accelerator_report(trace, hw, input_bits=input_bits, costs=network_costs(network))
