"""Hand-built filter SNNs: synapse lists equal the kernels, rate-decoded output ≈ the exact filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate2d

from spikeforge.apps.filters import (
    KERNELS,
    correlation_synapses,
    em_crops,
    exact_filter,
    filter_snn,
    run_filter,
)
from spikeforge.errors import InvalidDataError
from spikeforge.hardware import load_hardware
from spikeforge.pipeline import partition_pass
from spikeforge.sim.simulator import simulate


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_synapse_list_is_the_valid_correlation(name, rng):
    kernel = KERNELS[name]
    image = rng.random((5, 7))
    pre, post, weight = correlation_synapses(5, 7, kernel)
    dense = np.zeros((3 * 5, 35))
    np.add.at(dense, (post, pre), weight)
    assert np.allclose(dense @ image.ravel(), correlate2d(image, kernel, mode="valid").ravel(), atol=1e-6)
    assert pre.size == np.count_nonzero(kernel) * 3 * 5  # zero taps get no synapse


def test_sparse_linear_weights_equal_the_kernels():
    snn = filter_snn(6, 6, "edges")
    syn = snn.node("filter_syn")
    # output neuron 0 of each channel sees the top-left 3×3 patch: its weights, laid out, are ±kernel
    for c, kernel in enumerate((KERNELS["sobel_x"], -KERNELS["sobel_x"], KERNELS["sobel_y"], -KERNELS["sobel_y"])):
        mine = syn.post == c * 16
        taps = np.zeros((3, 3), np.float32)
        taps[syn.pre[mine] // 6, syn.pre[mine] % 6] = syn.weight[mine]
        assert np.array_equal(taps, kernel.astype(np.float32))
    assert np.array_equal(np.unique(snn.node("filter").threshold), [4.0])  # sum of positive Sobel taps
    assert snn.shape("filter") == (4 * 4 * 4,)


@pytest.mark.parametrize("bank", ["smoothing", "edges"])
def test_rate_decoded_output_matches_exact_filter(bank, rng):
    images = rng.random((2, 1, 9, 9)).astype(np.float32)
    r = run_filter(images, bank, timesteps=64)
    assert r.decoded.shape == r.exact.shape == exact_filter(images, bank).shape
    theta = r.snn.node("filter").threshold.reshape(r.exact.shape[1:])
    assert np.abs(r.decoded - r.exact).max() <= 0.1 * theta.max()
    assert r.correlation > 0.97 and r.psnr_db > 25


def test_more_timesteps_give_a_closer_filter(rng):
    images = rng.random((1, 1, 8, 8)).astype(np.float32)
    snn = filter_snn(8, 8, "smoothing")
    exact = exact_filter(images, "smoothing").ravel()
    err = [np.abs(simulate(snn, images, timesteps=t).outputs[t].ravel() - exact).mean() for t in (4, 64)]
    assert err[1] < err[0]


def test_filter_snn_maps_with_the_greedy_partitioner(rng):
    r = run_filter(rng.random((1, 1, 12, 12)).astype(np.float32), "edges", timesteps=8)
    part = partition_pass(r.snn, r.profile, load_hardware("xbar-mesh"), "greedy")
    assert part.cluster_neurons.sum() == r.snn.neuron_count() == 144 + 4 * 100


def test_bad_inputs_raise_clear_errors(tmp_path, rng):
    with pytest.raises(InvalidDataError, match=r"ISBI 2012 EM slices not found: put train/image/0\.\.29\.png"):
        em_crops(tmp_path)
    with pytest.raises(InvalidDataError, match=r"need \(N, 1, H, W\) in \[0, 1\]"):
        run_filter(2 * rng.random((1, 1, 8, 8)).astype(np.float32))
    with pytest.raises(InvalidDataError, match="kernel .* does not fit a 2×2 image"):
        filter_snn(2, 2)
    with pytest.raises(InvalidDataError, match="filter bank 'blur'"):
        filter_snn(8, 8, "blur")


def test_em_crops_from_real_slices(shared_data):
    crops = em_crops(shared_data / "isbi2012", size=32, count=3)
    assert crops.shape == (3, 1, 32, 32) and crops.dtype == np.float32
    assert 0 <= crops.min() and crops.max() <= 1 and crops.std() > 0.05
