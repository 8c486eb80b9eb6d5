r"""Conversion for the number of timesteps the SNN will run: layer-wise calibration at T.

A converted SNN run for :math:`T` timesteps (binary spikes, reset by subtraction) gives each
neuron a spike count whose value :math:`\lambda\,n/T` differs from the ANN's activation in three
ways: quantisation to :math:`T` levels of the scale :math:`\lambda` and clipping above it; the
offset of the count, set by the initial potential; and *unevenness*, input that arrives late or
changes sign after the neuron has fired. With the heavy-tailed activations of BatchNorm networks a
percentile scale leaves most activations in the lowest levels at small :math:`T`, and the errors
compound layer after layer (a ResNet that converts within a point at :math:`T = 64` can fall to
chance at :math:`T = 8`).

:func:`tune_for_timesteps` walks the neuron layers in order. For each, with every earlier layer
already tuned, it simulates the SNN up to that layer on calibration data, takes the input
current the layer really receives, and runs the layer's own neurons
(:func:`~spikeforge.sim.simulator.run_neurons`, the one neuron kernel) on it for candidate
settings, scoring each by the squared difference between the ANN's activation and the SNN's
value :math:`\lambda_c m_c\, n / T` on the same images:

1. the layer's initial potential :math:`v_\mathrm{init}` (one per layer, as the IR holds it) from
   :data:`V_INITS` — optimised potential initialisation (Bu et al., AAAI 2022) and the offset
   calibration of Hao et al. (AAAI 2023);
2. per channel, a multiplier :math:`m_c` of the scale from :data:`SCALE_MULTIPLIERS` — threshold
   tuning for :math:`T`, trading clipping against resolution (Deng and Gu, ICLR 2021; the
   threshold search of Li et al.'s layer-wise calibration, ICML 2021) — scored, when a bias shift
   follows, by the error's spread around its mean (the shift removes the mean);
3. per channel, the mean remaining error added to the bias of the layer's synaptic input
   (bias calibration, Li et al. 2021); a layer fed through a concatenation keeps its bias.

Finally the tuned SNN is kept only if, on calibration images held out from the tuning, it agrees
with the ANN's top-1 class at least as often as the untuned conversion: on the user's data the
tuned default is never the worse one.

Tried on a BatchNorm ResNet and left out (test accuracy at T = 8, 2,000 MNIST images; this method
82%): weight calibration, fine-tuning the weights on the calibration set through the spiking
dynamics with surrogate gradients (the calibration loss falls towards zero, test accuracy stays
or drops: 1,000 images are too few); distilling the ANN into its T-level quantised (QCFS) form
on the calibration set first (62%); choosing each channel's bias shift, or the initial
potential, by the squared error rather than removing the mean error (66%, 34%: an unbiased layer
matters more downstream than a small one); searching initial potential and multipliers jointly
(the same accuracy at three times the cost).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import torch

from spikeforge.convert.calibrate import bias_source
from spikeforge.convert.normalise import convert
from spikeforge.errors import ConversionError
from spikeforge.ir import network as ir
from spikeforge.sim.neuron import neuron_params
from spikeforge.sim.simulator import (
    Value,
    check_run,
    compiled,
    iterate_ann,
    run_ann,
    run_batches,
    run_neurons,
    simulate,
)

#: Initial potentials tried per layer (fractions of the threshold).
V_INITS = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75)
#: Multipliers of a channel's scale tried per channel.
SCALE_MULTIPLIERS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25)
#: Calibration images used for tuning: at most this many, and at most :data:`TUNING_STEPS` / T
#: (the cost grows with samples × T), but never fewer than :data:`MIN_TUNING_SAMPLES`; at most
#: :data:`CHECK_SAMPLES` more are held out to check the result.
TUNING_SAMPLES, TUNING_STEPS, MIN_TUNING_SAMPLES, CHECK_SAMPLES = 768, 8192, 128, 256
#: Values per recorded tensor (T × batch × layer size), bounding the batch: 256 MB of float32;
#: and of all batches of one layer's recording kept for its second search.
_VALUES_PER_BATCH, _VALUES_KEPT = 1 << 26, 1 << 27


def _prefix(net: ir.Network, name: str) -> ir.Network:
    """The part of ``net`` that layer ``name`` depends on. Its input is an output too, so that the
    simulator keeps the current (it would overwrite a current read by neurons alone with their
    spikes)."""
    needed = {name}
    for node in reversed(net.nodes):
        if node.name in needed:
            needed.update(node.inputs)
    return ir.Network(tuple(n for n in net.nodes if n.name in needed), (name, *net.node(name).inputs),
                      net.name)


def _with_bias_shifts(ann: ir.Network, shifts: Mapping[str, np.ndarray]) -> ir.Network:
    """``ann`` with ``shifts[relu]`` (ANN units, per channel) added to the pre-activation of each
    ReLU, through the bias of the synaptic layer that feeds it alone."""
    nodes = {n.name: n for n in ann.nodes}
    for name, shift in shifts.items():
        source, factor = bias_source(ann, name)
        layer = nodes[source.name]
        bias = np.zeros(ann.shape(layer.name)[0]) if layer.bias is None else layer.bias.astype(np.float64)
        nodes[layer.name] = dataclasses.replace(layer, bias=(bias + shift * factor).astype(np.float32))
    return ir.Network(tuple(nodes[n.name] for n in ann.nodes), ann.outputs, ann.name)


def _with_v_inits(snn: ir.Network, v_inits: Mapping[str, float]) -> ir.Network:
    return ir.Network(tuple(dataclasses.replace(n, v_init=v_inits[n.name]) if n.name in v_inits else n
                            for n in snn.nodes), snn.outputs, snn.name)


def _recordings(snn: ir.Network, ann: ir.Network, name: str, x: torch.Tensor, timesteps: int):
    """A function giving, batch by batch, the ANN's activation of layer ``name`` and the input
    current the SNN delivers to it; the batches are kept in memory when they fit in
    :data:`_VALUES_KEPT`, else simulated again at each call."""
    shape = snn.shape(name)
    size = timesteps * int(np.prod(shape))
    batch = max(1, min(len(x), _VALUES_PER_BATCH // size))
    prefix = compiled(_prefix(snn, name), False)
    current: dict[str, Value] = {}

    def keep_current(layer: ir.Node, ins: list[Value], out: Value) -> None:
        if layer.name == name:
            current["value"] = ins[0]

    def batches():
        targets = iterate_ann(ann, x, record=(name,), batch_size=batch)
        for chunk in torch.split(x, batch):
            run_batches(prefix, chunk, timesteps, torch.tensor([timesteps]), lambda _, v: v.data[:0],
                        batch_size=batch, observe=keep_current)
            yield next(targets)[name].double(), current["value"]

    if size * len(x) <= _VALUES_KEPT:
        kept = list(batches())
        return lambda: kept
    return batches


def _layer_errors(recordings, node: ir.Node, shape: tuple[int, ...], timesteps: int, scale: np.ndarray,
                  candidates: list[tuple[float, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate (v_init, per-channel multiplier of the scale) and channel: the sums of
    squared and of signed errors (ANN activation - SNN value) of neuron layer ``node`` over the
    recordings."""
    channels = shape[0]
    theta = np.broadcast_to(np.asarray(node.threshold, np.float64), (channels,))
    view = (channels,) + (1,) * (len(shape) - 1)
    squared = np.zeros((len(candidates), channels))
    signed = np.zeros((len(candidates), channels))
    for target, current in recordings():
        axes = (0, *range(2, target.ndim))
        for k, (v_init, multiplier) in enumerate(candidates):
            trial = dataclasses.replace(node, threshold=(theta * multiplier).astype(np.float32), v_init=v_init)
            spikes = run_neurons(neuron_params(trial, len(shape) + 1), current, timesteps)
            value = spikes.sum(0, dtype=torch.float64) * torch.as_tensor(scale * multiplier / timesteps).reshape(view)
            error = target - value
            squared[k] += (error * error).sum(axes).numpy()
            signed[k] += error.sum(axes).numpy()
    return squared, signed


def _agreement(snn: ir.Network, x: torch.Tensor, labels: np.ndarray, timesteps: int) -> float:
    out = simulate(snn, x, timesteps=timesteps, counters=False).outputs[timesteps]
    return float(np.mean(out.argmax(1) == labels))


def tune_for_timesteps(ann: ir.Network, calib: np.ndarray, timesteps: int, *,
                       scales: Mapping[str, np.ndarray], options: Mapping[str, object]) -> ir.Network:
    """The SNN of ``ann`` calibrated layer by layer to run for ``timesteps`` (module docstring).

    Parameters
    ----------
    ann : Network
        The ANN.
    calib : array (N, *input_shape)
        Checked calibration data; the first :data:`TUNING_SAMPLES` images tune, up to
        :data:`CHECK_SAMPLES` of the rest (or the last quarter of a smaller set) check.
    timesteps : int
        The T the SNN will run for.
    scales : mapping
        The activation scale λ of each ReLU (:func:`~spikeforge.convert.normalise.activation_scales`).
    options : mapping
        The other keywords of :func:`~spikeforge.convert.normalise.convert` (balance, neuron, ...).

    Raises
    ------
    ConversionError
        Fewer than 8 calibration samples (too few to tune on and check).
    ResourceError
        One sample's layer over ``timesteps`` steps would not fit in memory.
    """
    if len(calib) < 8:
        raise ConversionError(f"conversion for timesteps={timesteps}: {len(calib)} calibration samples; "
                              "tuning needs at least 8 (use a few hundred)")
    check_run(ann, timesteps, 1, 4)  # a layer recorded over T steps, for one sample at least
    x = torch.as_tensor(calib)
    held = min(CHECK_SAMPLES, max(len(x) // 4, 1))
    budget = min(TUNING_SAMPLES, max(MIN_TUNING_SAMPLES, TUNING_STEPS // timesteps))
    tune_x, check_x = x[: min(budget, len(x) - held)], x[len(x) - held:]
    relus = [n.name for n in ann.nodes if isinstance(n, ir.ReLU)]
    scales = {name: np.asarray(s, np.float64) for name, s in scales.items()}
    untuned = convert(ann, scales=scales, **options)
    shifts: dict[str, np.ndarray] = {}
    v_inits: dict[str, float] = {}

    def build() -> ir.Network:
        return _with_v_inits(convert(_with_bias_shifts(ann, shifts), scales=scales, **options), v_inits)

    for name in relus:
        snn = build()
        node, shape = snn.node(name), snn.shape(name)
        channels = shape[0]
        ones = np.ones(channels)
        recordings = _recordings(snn, ann, name, tune_x, timesteps)
        # the initial potential first (one per layer), then the scale multiplier of each channel
        squared, _ = _layer_errors(recordings, node, shape, timesteps, scales[name],
                                   [(v, ones) for v in V_INITS])
        v_init = V_INITS[int(np.argmin(squared.sum(1)))]
        squared, signed = _layer_errors(recordings, node, shape, timesteps, scales[name],
                                        [(v_init, m * ones) for m in SCALE_MULTIPLIERS])
        count = int(np.prod(shape[1:])) * len(tune_x)
        shiftable = bias_source(ann, name) is not None
        # with a bias shift to follow, only the error's spread around its mean remains
        best = np.argmin(squared - signed**2 / count if shiftable else squared, axis=0)
        multiplier = np.asarray(SCALE_MULTIPLIERS)[best]
        v_inits[name] = v_init
        if shiftable:
            shifts[name] = signed[best, np.arange(channels)] / count
        scales[name] = scales[name] * multiplier
    tuned = build()
    labels = run_ann(ann, check_x).argmax(1)
    if _agreement(tuned, check_x, labels, timesteps) >= _agreement(untuned, check_x, labels, timesteps):
        return tuned
    return untuned
