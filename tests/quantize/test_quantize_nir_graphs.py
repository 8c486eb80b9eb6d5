"""The NIR paper's directly-trained graphs quantised: the single LIF neuron's spike times at 8 bits
equal the float run's (and the exact solution's), and the Braille CubaLIF recurrent network and
the N-MNIST CNN run bit-exactly in integers (against the naive reference) at 8 and 6 bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import naive_activity

from spikeforge.frontends.nir import read_nir
from spikeforge.ir import network as ir
from spikeforge.quantize import quantize, simulate_integer
from spikeforge.sim.simulator import compiled, run_batches


def spike_trains(net: ir.Network, x: np.ndarray, timesteps: int, integer: bool) -> dict[str, np.ndarray]:
    """Spikes (T, N, ...) of every neuron layer, recorded by an observer of the simulator's loop."""
    trains: dict[str, list[np.ndarray]] = {}

    def observe(node: ir.Node, inputs, output) -> None:
        if node.is_neuron:
            trains.setdefault(node.name, []).append(output.data.to(torch.float64).numpy().copy())

    run_batches(compiled(net, integer), torch.as_tensor(np.asarray(x, np.float64)), timesteps,
                torch.as_tensor([timesteps]), lambda name, value: value.data, batch_size=64, collapse=False,
                observe=observe)
    return {k: np.concatenate(v, axis=1) for k, v in trains.items()}


def test_lif_neuron_spike_times_at_8_bits_equal_the_float_run(shared_data):
    folder = shared_data / "nir"
    net = read_nir(folder / "lif_norse.nir")
    exact = np.loadtxt(folder / "lif_exact.csv", delimiter=",")
    loihi = np.loadtxt(folder / "lif_lava_loihi_fixed.csv", delimiter=",")
    x = exact[:, 0].reshape(1, -1, 1)
    steps = x.shape[1]
    q = quantize(net, weight_bits=8, input_bits=1, input_range=1.0)  # spikes stay 0/1
    (name,) = (n.name for n in net.nodes if n.is_neuron)
    floating = np.flatnonzero(spike_trains(net, x, steps, False)[name][:, 0, 0])
    integer = np.flatnonzero(spike_trains(q.network, q.quantize_input(x), steps, True)[name][:, 0, 0])
    assert floating.size > 0
    np.testing.assert_array_equal(integer, floating)
    np.testing.assert_array_equal(integer, np.flatnonzero(exact[:, 2]))
    # Loihi's fixed-point run: the same spikes, each within one step.
    on_loihi = np.flatnonzero(loihi[:, 2])
    assert on_loihi.shape == integer.shape and np.abs(on_loihi - integer).max() <= 1


@pytest.mark.parametrize("bits", [8, 6])
@pytest.mark.parametrize(("graph", "shape", "timesteps"), [
    ("braille_noDelay_bias_zero.nir", (12,), 40), ("cnn_sinabs.nir", (2, 34, 34), 6)])
def test_nir_graphs_quantise_and_run_bit_exactly(shared_data, graph, shape, timesteps, bits):
    net = read_nir(shared_data / "nir" / graph)
    q = quantize(net, weight_bits=bits, input_bits=1, input_range=1.0)
    x = (np.random.default_rng(0).random((4, timesteps, *shape)) < 0.2).astype(np.float64)
    r = simulate_integer(q, x, timesteps)
    _, counts, _, _ = naive_activity(q.network, q.quantize_input(x), timesteps, integer=True)
    assert counts.keys() == r.spike_counts.keys()
    for name, count in counts.items():
        np.testing.assert_array_equal(r.spike_counts[name], count)
    for node in q.network.nodes:  # weight_bits mantissas (times a power of two for leaky / reset-to-value layers)
        if node.has_weights:
            w = np.abs(node.weight.astype(np.int64))
            k = min(((int(v) & -int(v)).bit_length() - 1 for v in w[w != 0]), default=0)
            assert w.max(initial=0) <= (2 ** (bits - 1) - 1) << k
