import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.convert.calibrate import calibrate_biases, infer_scales
from spikeforge.convert.normalise import activation_scales, convert
from spikeforge.errors import ConversionError, InvalidDataError, NotConvertedError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir import network as ir
from spikeforge.models.layers import relu_to_qcfs
from spikeforge.sim.simulator import iterate_ann, simulate


def small_cnn(qcfs_levels=None, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 2 * 2, 8), nn.ReLU(), nn.Linear(8, 3))
    if qcfs_levels:
        relu_to_qcfs(model, levels=qcfs_levels, clip=1.0)
    return import_torch(model.eval(), (1, 8, 8), name="small")


@pytest.fixture
def calib():
    return np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)


@pytest.mark.parametrize("balance", ["weights", "thresholds"])
def test_inferred_scales_are_the_conversion_scales(calib, balance):
    ann = small_cnn()
    lam = activation_scales(ann, calib, statistic="max")
    snn = convert(ann, calib, statistic="max", balance=balance)
    scales = infer_scales(ann, snn)
    for name, value in lam.items():
        np.testing.assert_allclose(scales[name], value, rtol=1e-4)


def mean_rates(net, x, names, timesteps):
    profile = simulate(net, x, timesteps=timesteps).profile
    return {n: profile.rates(n).reshape(profile.rates(n).shape[0], -1).mean(1) for n in names}


@pytest.mark.parametrize("timesteps", [8, 16])
def test_calibration_matches_mean_rates_to_ann(calib, timesteps):
    ann = small_cnn(qcfs_levels=4)
    snn = convert(ann)
    names = [n.name for n in snn.nodes if n.is_neuron]
    scales = infer_scales(ann, snn)
    batch = next(iterate_ann(ann, calib, record=names, batch_size=len(calib)))
    target = {n: batch[n].numpy().mean((0, *range(2, batch[n].ndim))) / scales[n] for n in names}
    before = mean_rates(snn, calib, names, timesteps)
    calibrated = calibrate_biases(snn, ann, calib, timesteps)
    after = mean_rates(calibrated, calib, names, timesteps)
    err_before = sum(np.abs(before[n] - target[n]).sum() for n in names)
    err_after = sum(np.abs(after[n] - target[n]).sum() for n in names)
    assert err_after < err_before
    # The first layer sees the unchanged input: its mean rates match closely.
    np.testing.assert_allclose(after[names[0]], target[names[0]], atol=0.05)
    # Only biases change; the input network is not modified.
    for old, new in zip(snn.nodes, calibrated.nodes):
        assert type(old) is type(new)
        if isinstance(old, (ir.Conv2d, ir.Linear)):
            np.testing.assert_array_equal(old.weight, new.weight)
    assert calibrated is not snn
    np.testing.assert_array_equal(convert(ann).node(names[0]).threshold, snn.node(names[0]).threshold)


def test_calibration_errors(calib):
    ann = small_cnn(qcfs_levels=2)
    snn = convert(ann)
    with pytest.raises(NotConvertedError, match="bias calibration: network small has no spiking neurons; "
                                                "convert it first"):
        calibrate_biases(ann, ann, calib, 4)
    first = next(n.name for n in snn.nodes if n.is_neuron)
    with pytest.raises(NotConvertedError, match=f"bias calibration: network small: 1 ReLU layers \\({first}\\)"):
        calibrate_biases(snn.replace_nodes({first: ann.node(first)}), ann, calib, 4)
    with pytest.raises(ConversionError, match="has spiking neurons"):
        calibrate_biases(snn, snn, calib, 4)
    with pytest.raises(ConversionError, match="timesteps 0: must be ≥ 1"):
        calibrate_biases(snn, ann, calib, 0)
    with pytest.raises(ConversionError, match="passes 1.5: must be an integer"):
        calibrate_biases(snn, ann, calib, 4, passes=1.5)
    with pytest.raises(InvalidDataError, match="no samples"):
        calibrate_biases(snn, ann, calib[:0], 4)
    with pytest.raises(InvalidDataError, match="shape"):
        calibrate_biases(snn, ann, calib[:, :, :4], 4)
    other = small_cnn(qcfs_levels=2)
    renamed = ir.Network(tuple(ir.Input("inp", (), (1, 8, 8)) if isinstance(n, ir.Input) else n
                               for n in other.nodes[:1]), ("inp",))
    with pytest.raises(ConversionError, match="no counterpart"):
        calibrate_biases(snn, renamed, calib, 4)


def test_neuron_after_a_residual_sum_is_calibrated_through_the_branch_conv(residual_model):
    """The sum's own neuron has no bias of its own: the residual branch's last conv carries the shift
    (divided by the sum's gain for it), so that neuron's rates move to the ANN's too."""
    ann = import_torch(residual_model, (1, 8, 8), name="residual")
    x = np.random.default_rng(1).random((64, 1, 8, 8), dtype=np.float32)
    snn = convert(ann, x)
    (after_sum,) = [n.name for n in snn.nodes if n.is_neuron and isinstance(snn.node(n.inputs[0]), ir.Add)]
    add = snn.node(snn.node(after_sum).inputs[0])
    (branch,) = [i for i in add.inputs if isinstance(snn.node(i), ir.Conv2d)]
    scales = infer_scales(ann, snn)
    batch = next(iterate_ann(ann, x, record=[after_sum], batch_size=len(x)))
    target = batch[after_sum].numpy().mean((0, 2, 3)) / scales[after_sum]
    calibrated = calibrate_biases(snn, ann, x, 8)
    before = mean_rates(snn, x, [after_sum], 8)[after_sum]
    after = mean_rates(calibrated, x, [after_sum], 8)[after_sum]
    assert np.abs(after - target).sum() < 0.5 * np.abs(before - target).sum()
    assert not np.array_equal(calibrated.node(branch).bias, snn.node(branch).bias)
