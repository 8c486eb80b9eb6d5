"""Conversion for the T the SNN will run (spikeforge.convert.tune)."""

import numpy as np
import pytest
import torch
from test_calibrate import small_cnn
from torch import nn

from spikeforge.convert import tune
from spikeforge.convert.normalise import activation_scales, convert
from spikeforge.datasets import digits
from spikeforge.errors import ArgumentError, ConversionError, ResourceError
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.sim.simulator import run_ann, simulate


@pytest.fixture
def calib():
    return np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)


def test_timesteps_needs_calibration_data():
    with pytest.raises(ConversionError, match="timesteps=4 needs calibration data"):
        convert(small_cnn(qcfs_levels=4), timesteps=4)


@pytest.mark.parametrize(("timesteps", "error"), [(0, ConversionError), (-3, ConversionError),
                                                  (2.5, ArgumentError)])
def test_timesteps_must_be_a_positive_integer(calib, timesteps, error):
    with pytest.raises(error, match="timesteps"):
        convert(small_cnn(), calib, timesteps=timesteps)


def test_too_few_calibration_samples(calib):
    with pytest.raises(ConversionError, match="5 calibration samples; tuning needs at least 8"):
        convert(small_cnn(), calib[:5], timesteps=4)


def test_recorded_current_is_the_current_not_the_spikes(calib):
    # a convolution's output read by neurons alone is overwritten by their spikes in simulation;
    # the recording must keep the real (graded) current
    ann = small_cnn()
    snn = convert(ann, calib)
    second = [n.name for n in snn.nodes if n.is_neuron][1]
    (target, current), *_ = tune._recordings(snn, ann, second, torch.as_tensor(calib), 4)()
    values = current.data
    assert values.shape[:2] == (4, len(calib)) and target.shape == (len(calib), *snn.shape(second))
    assert not torch.all((values == 0) | (values == 1))


def test_tuned_network_differs_only_in_biases_scales_and_initial_potentials(calib):
    ann = small_cnn()
    plain = convert(ann, calib)
    tuned = convert(ann, calib, timesteps=4)
    assert [type(n) for n in tuned.nodes] == [type(n) for n in plain.nodes]
    assert [n.inputs for n in tuned.nodes] == [n.inputs for n in plain.nodes]
    for node in tuned.nodes:
        if node.is_neuron:
            assert node.v_init in (*tune.V_INITS, 0.5)


def test_kept_only_when_it_agrees_with_the_ann_at_least_as_often(calib, monkeypatch):
    """The guard: when the tuned SNN agrees less often on the held-out images, the plain one is
    returned."""
    ann = small_cnn()
    agreements = iter([0.5, 0.75])  # tuned, then untuned
    monkeypatch.setattr(tune, "_agreement", lambda *args: next(agreements))
    plain = convert(ann, calib)
    kept = convert(ann, calib, timesteps=4)
    for a, b in zip(kept.nodes, plain.nodes, strict=True):
        assert getattr(a, "v_init", None) == getattr(b, "v_init", None)
        np.testing.assert_array_equal(getattr(a, "bias", None), getattr(b, "bias", None))


def digits_mlp():
    torch.manual_seed(0)
    data = digits("train")
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                          nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return import_torch(model.eval(), (1, 8, 8)), data.x[:400]


@pytest.mark.parametrize("timesteps", [2, 4])
def test_tuning_for_t_keeps_more_of_the_ann_than_the_plain_conversion(timesteps):
    ann, calib = digits_mlp()
    test = digits("test")
    reference = run_ann(ann, test.x).argmax(1)
    scales = activation_scales(ann, calib)

    def agreement(snn):
        return np.mean(simulate(snn, test.x, timesteps=timesteps, counters=False)
                       .outputs[timesteps].argmax(1) == reference)

    plain = agreement(convert(ann, scales=scales))
    tuned = agreement(convert(ann, calib, timesteps=timesteps))
    assert tuned >= plain - 0.01  # held-out test images: the guard saw other ones
    assert tuned > 0.5


def test_timesteps_beyond_the_simulator_limit_are_refused_before_any_work(calib):
    with pytest.raises(ResourceError, match="timesteps 70000: at most 65536 is supported"):
        convert(small_cnn(), calib, timesteps=70_000)
