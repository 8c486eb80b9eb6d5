"""Composite synaptic maps (``spikeforge.mapping.connectivity``) against brute force: window taps
enumerated one by one, and which presynaptic spikes a neuron's input current depends on."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mapping_helpers import conv_net

from spikeforge.mapping.connectivity import afferents, axis_map, mapped_layers


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 5), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3), st.booleans())
def test_axis_map_is_the_window_enumerated_tap_by_tap(n_in, k, stride, pad, dil, transposed):
    if transposed:
        n_out = (n_in - 1) * stride - 2 * pad + dil * (k - 1) + 1
        taps = {(i * stride - pad + j * dil, i) for i in range(n_in) for j in range(k)}
    else:
        n_out = (n_in + 2 * pad - dil * (k - 1) - 1) // stride + 1
        taps = {(o, o * stride - pad + j * dil) for o in range(max(n_out, 0)) for j in range(k)}
    if n_out < 1:
        return
    m = axis_map(n_out, n_in, k, stride, pad, dil, transposed).tocoo()
    # padding taps (outside either side) are not synapses
    assert set(zip(m.row.tolist(), m.col.tolist())) == {(o, i) for o, i in taps if 0 <= o < n_out and 0 <= i < n_in}
    assert (m.data == 1).all()


def test_pooled_convolution_folds_into_one_map_with_the_dependencies_of_the_layers():
    """n2's input current is conv2(avgpool(n1 spikes)): its afferent from n1 must hold exactly the
    n1 neurons that current depends on (positive weights: no dependency cancels)."""
    net = conv_net(c=2, size=6)
    assert mapped_layers(net) == ["n1", "n2", "fc"]
    (aff,) = afferents(net, "n2")
    assert aff.source == "n1" and not aff.flat and aff.exact
    w = torch.tensor(net.node("c2").weight)

    def current(spikes):
        return torch.nn.functional.conv2d(torch.nn.functional.avg_pool2d(spikes[None], 2), w, padding=1)[0].flatten()

    jac = torch.autograd.functional.jacobian(current, torch.zeros(2, 6, 6)).reshape(2 * 3 * 3, 2 * 6 * 6)
    got = sp.kron(aff.channel, sp.kron(aff.rows, aff.cols)).toarray() != 0
    np.testing.assert_array_equal(got, jac.numpy() != 0)
    assert aff.synapses() == int(got.sum())
    np.testing.assert_array_equal(aff.fan_in().ravel(), got.sum(1))


def test_read_out_after_flatten_is_a_flat_map_of_the_whole_layer():
    net = conv_net(c=2, size=6)
    (aff,) = afferents(net, "fc")
    assert aff.source == "n2" and aff.flat
    assert aff.channel.shape == (3, 2 * 3 * 3) and aff.fan_in().ravel().tolist() == [18, 18, 18]

