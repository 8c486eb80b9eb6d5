"""Co-design search: Pareto front, simulation cache, PE monotonicity, crossbar sweep, errors."""

import itertools
from importlib import resources

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikeforge.convert.normalise import convert
from spikeforge.datasets import digits
from spikeforge.errors import (
    DesignSpaceError,
    InfeasibleMappingError,
    InvalidDataError,
    InvalidHardwareSpecError,
    NotConvertedError,
    QuantizationError,
    SimulationError,
)
from spikeforge.explore import (
    DesignPoint,
    Evaluation,
    SimulationCache,
    Target,
    as_target,
    crossbar_variant,
    pareto_front,
    pareto_mask,
    sweep,
)
from spikeforge.explore import target as target_module
from spikeforge.explore.report import csv_rows
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.hardware import Hardware, hardware_to_toml, load_hardware, load_target
from spikeforge.hardware.accelerator import AcceleratorSpec
from spikeforge.models import build_model
from spikeforge.quantize import quantize, simulate_integer


@pytest.fixture(scope="module")
def ann():
    torch.manual_seed(0)
    model, shape = build_model("digits-cnn")
    return import_torch(model.eval(), shape, name="digits-cnn")


@pytest.fixture(scope="module")
def snn(ann):
    return convert(ann, digits("train").x[:64])


@pytest.fixture(scope="module")
def data():
    test = digits("test")
    return test.x[:16], test.y[:16]


def ev(bits, t, pes, acc, lat, energy):
    return Evaluation(DesignPoint(bits, t, pes), acc, lat, energy, 1.0)


def test_pareto_front_of_hand_made_points():
    a = ev(8, 8, 64, 0.98, 3.0, 3.0)   # most accurate
    b = ev(4, 4, 64, 0.95, 1.0, 2.0)   # fastest
    c = ev(2, 2, 64, 0.90, 2.0, 1.0)   # least energy
    d = ev(4, 8, 64, 0.95, 3.0, 3.0)   # dominated by a (and b)
    e = ev(4, 6, 64, 0.90, 2.0, 1.5)   # dominated by c
    f = ev(4, 4, 128, 0.95, 1.0, 2.0)  # ties b: neither dominates
    assert pareto_front([a, b, c, d, e, f]) == (a, b, c, f)
    assert pareto_front([a, b, c, d, e, f], objectives=[("accuracy", "max"), ("latency_s", "min"),
                                                        ("energy_j", "min"), ("pes", "min")]) == (a, b, c)
    assert pareto_front([d]) == (d,) and pareto_front([]) == ()
    assert [r["on_front"] for r in csv_rows([a, d], [a])] == [1, 0]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 25), st.integers(1, 3)),
              elements=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0])),
       st.lists(st.booleans(), min_size=3, max_size=3))
def test_front_is_non_dominated_and_dominates_the_rest(values, senses):
    maximize = senses[: values.shape[1]]
    mask = pareto_mask(values, maximize)
    g = values * np.where(maximize, 1.0, -1.0)

    def dominates(i, j):
        return bool(np.all(g[i] >= g[j]) and np.any(g[i] > g[j]))

    front = np.flatnonzero(mask)
    assert front.size >= 1
    for j in range(len(values)):
        dominated_by_front = any(dominates(i, j) for i in front)
        if mask[j]:
            assert not any(dominates(i, j) for i in range(len(values)))
        else:
            assert dominated_by_front


def test_pareto_errors():
    with pytest.raises(InvalidDataError, match=r"shape \(2, 3\), expected \(n, 2\)"):
        pareto_mask(np.zeros((2, 3)), [True, False])
    with pytest.raises(InvalidDataError, match="1 of 2 rows hold NaN"):
        pareto_mask([[1.0, np.nan], [1.0, 2.0]], [True, False])
    with pytest.raises(DesignSpaceError, match="objectives: empty"):
        pareto_front([ev(8, 8, 64, 1.0, 1.0, 1.0)], objectives=[])
    with pytest.raises(DesignSpaceError, match="objective 'speed': not an Evaluation figure"):
        pareto_front([ev(8, 8, 64, 1.0, 1.0, 1.0)], objectives=[("speed", "max")])
    with pytest.raises(DesignSpaceError, match="objective 'accuracy': sense 'up'"):
        pareto_front([ev(8, 8, 64, 1.0, 1.0, 1.0)], objectives=[("accuracy", "up")])


def counting(monkeypatch):
    """Count the integer simulations the sweep really runs (an accelerator point needs one: its
    accuracy and its spike trains come from the same run)."""
    calls = []
    real = target_module.simulate_integer

    def wrapped(q, x, t, *args, **kwargs):
        calls.append((q.weight_bits, t))
        return real(q, x, t, *args, **kwargs)

    monkeypatch.setattr(target_module, "simulate_integer", wrapped)
    return calls


def test_cache_simulates_each_bits_timesteps_pair_once(snn, data, tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    x, y = data
    kw = {"bits": [4, 8], "timesteps": [2, 3], "pes": [4, 16, 64], "quiet": True}
    first = sweep(snn, x, y, "pynq-z2-accel", cache=SimulationCache(tmp_path / "cache"), **kw)
    assert len(first.evaluations) == 12
    assert first.simulations == len(calls) == 4 and first.cache_hits == 0
    assert sorted(calls) == [(4, 2), (4, 3), (8, 2), (8, 3)]
    # another process: a fresh cache object on the same folder simulates nothing
    again = sweep(snn, x, y, "pynq-z2-accel", cache=SimulationCache(tmp_path / "cache"), **kw)
    assert again.simulations == 0 and again.cache_hits == 4 and len(calls) == 4
    assert first.evaluated == 12 and again.evaluated == 0
    assert again.evaluations == first.evaluations and again.front == first.front
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 4
    assert len(list((tmp_path / "cache").glob("*.json"))) == 12
    assert not list((tmp_path / "cache").glob(".*"))
    # one more PE count: no simulation, only the new points are evaluated
    wider = sweep(snn, x, y, "pynq-z2-accel", cache=SimulationCache(tmp_path / "cache"),
                  **{**kw, "pes": [4, 16, 64, 128]})
    assert wider.simulations == 0 and wider.evaluated == 4 and wider.evaluations[:3] == first.evaluations[:3]
    # other data is another key
    other = sweep(snn, x[:8], y[:8], "pynq-z2-accel", cache=SimulationCache(tmp_path / "cache"), **kw)
    assert other.simulations == 4


def test_corrupt_cache_entry_is_a_miss(snn, data, tmp_path):
    x, y = data
    cache = SimulationCache(tmp_path)
    sweep(snn, x, y, bits=[8], timesteps=[2], cache=cache, quiet=True)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"not an npz")
    # the point's figures are cached: the (unreadable) simulation is not needed
    again = sweep(snn, x, y, bits=[8], timesteps=[2], cache=SimulationCache(tmp_path), quiet=True)
    assert (again.simulations, again.evaluated) == (0, 0)
    (figures,) = tmp_path.glob("*.json")
    figures.write_text("{not json")
    r = sweep(snn, x, y, bits=[8], timesteps=[2], cache=SimulationCache(tmp_path), quiet=True)
    assert (r.simulations, r.evaluated) == (1, 1)
    assert r.evaluations == again.evaluations


def test_more_pes_never_slower_on_the_same_trace(snn, data):
    x, y = data
    pes = [1, 2, 3, 4, 8, 16, 64, 256]
    r = sweep(snn, x, y, "pynq-z2-accel", bits=[2, 8], timesteps=[3], pes=pes, quiet=True)
    assert r.simulations == 2
    for b in (2, 8):
        lat = [e.latency_s for e in r.evaluations if e.point.weight_bits == b]
        assert len(lat) == len(pes)
        assert all(later <= earlier for earlier, later in itertools.pairwise(lat))
        assert lat[-1] < lat[0]
        assert len({e.accuracy for e in r.evaluations if e.point.weight_bits == b}) == 1


def test_accuracy_is_the_integer_simulation(snn, data):
    x, y = data
    r = sweep(snn, x, y, bits=[4], timesteps=[4], quiet=True)
    q = quantize(snn, weight_bits=4)
    expected = simulate_integer(q, x, 4).accuracy(y)
    (e,) = r.evaluations
    assert e.accuracy == expected and e.point == DesignPoint(4, 4, 64)
    assert 0 < e.effective_gops <= 38.4 and e.energy_j == pytest.approx(1.54 * e.latency_s)


def test_crossbar_sweep_maps_each_size(snn, data):
    x, y = data
    r = sweep(snn, x, y, "xbar-mesh", bits=[8], timesteps=[2], crossbar_sizes=[128, 256], quiet=True)
    assert r.target == "crossbar" and r.simulations == 1
    small, large = r.evaluations
    assert small.crossbars > large.crossbars >= 1
    assert small.latency_s > 0 and small.energy_j > 0 and small.point.label == "8b T2 128x"


def test_points_that_do_not_fit_are_listed_not_raised(snn, data, tmp_path):
    x, y = data
    kw = {"bits": [8], "timesteps": [2], "crossbar_sizes": [8, 128], "quiet": True}
    r = sweep(snn, x, y, "xbar-mesh", cache=SimulationCache(tmp_path), **kw)
    assert [e.point.crossbar_size for e in r.evaluations] == [128]
    ((point, reason),) = r.infeasible
    assert point.crossbar_size == 8 and "no tile fits a crossbar of 8 rows × 8 columns" in reason
    again = sweep(snn, x, y, "xbar-mesh", cache=SimulationCache(tmp_path), **kw)
    assert again.evaluated == 0 and again.infeasible == r.infeasible
    with pytest.raises(InfeasibleMappingError, match=r"all 2 design points are infeasible on xbar-mesh; "
                                                     r"first, 8b T2 4x: .*no tile fits"):
        sweep(snn, x, y, "xbar-mesh", bits=[8], timesteps=[2], crossbar_sizes=[4, 8], quiet=True)


def test_crossbar_variant_scales_core_limits():
    hw = crossbar_variant(load_hardware("loihi"), 512)
    assert (hw.core.crossbar_rows, hw.core.crossbar_columns, hw.core.neurons_per_core) == (512, 512, 512)
    assert hw.core.synapse_memory_bits == 1048576 * 512 * 512 // (4096 * 1024)
    with pytest.raises(InvalidHardwareSpecError, match="crossbar size 0: must be ≥ 1"):
        crossbar_variant(hw, 0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"bits": [4, 9]}, QuantizationError, r"bits\[1\]=9: must be in 2..8"),
    ({"bits": [4.5]}, QuantizationError, r"bits\[0\]=4.5: must be an integer in 2..8"),
    ({"bits": []}, DesignSpaceError, "bits: empty list"),
    ({"bits": None}, DesignSpaceError, "bits: none given"),
    ({"bits": [4, 8, 4]}, DesignSpaceError, "bits: 4 given more than once"),
    ({"timesteps": [2, 0]}, SimulationError, r"timesteps\[1\] 0: must be ≥ 1"),
    ({"timesteps": []}, DesignSpaceError, "timesteps: empty list"),
    ({"pes": [-4]}, InvalidHardwareSpecError, r"pes\[0\] -4: must be ≥ 1"),
    ({"pes": []}, DesignSpaceError, "pes: empty list"),
    ({"crossbar_sizes": [128]}, DesignSpaceError, "crossbar_sizes: accelerator pynq-z2-accel has no crossbars"),
    ({"hardware": "xbar-mesh", "pes": [16]}, DesignSpaceError, "pes: crossbar chip xbar-mesh has no PE array"),
    ({"hardware": "xbar-mesh", "crossbar_sizes": [0]}, InvalidHardwareSpecError,
     r"crossbar_sizes\[0\] 0: must be ≥ 1"),
    ({"hardware": "no-such-chip"}, InvalidHardwareSpecError,
     r"no-such-chip: unknown hardware; not a preset \(crossbar chips: .*; accelerators: pynq-z2-accel\)"),
    ({"input_bits": 0}, QuantizationError, "input_bits=0: must be in 1..16"),
])
def test_sweep_argument_errors(snn, data, kwargs, error, match):
    x, y = data
    axes = {"bits": [8], "timesteps": [2], **{k: v for k, v in kwargs.items() if k != "hardware"}}
    with pytest.raises(error, match=match):
        sweep(snn, x, y, kwargs.get("hardware", "pynq-z2-accel"), quiet=True, **axes)


def test_sweep_data_and_network_errors(snn, ann, data):
    x, y = data
    with pytest.raises(InvalidDataError, match=r"x: shape \(16, 1, 8, 7\) does not match network "
                                               r"input \(N, 1, 8, 8\)"):
        sweep(snn, x[..., :7], y, quiet=True)
    with pytest.raises(InvalidDataError, match="x: no samples"):
        sweep(snn, x[:0], y[:0], quiet=True)
    with pytest.raises(InvalidDataError, match=r"labels: none given; accuracy needs one label per sample \(16\)"):
        sweep(snn, x, None, quiet=True)
    with pytest.raises(InvalidDataError, match=r"labels: shape \(15,\) does not match 16 samples"):
        sweep(snn, x, y[:15], quiet=True)
    with pytest.raises(NotConvertedError, match="codesign: network digits-cnn has no spiking neurons"):
        sweep(ann, x, y, quiet=True)
    with pytest.raises(QuantizationError, match="already quantised \\(8-bit weights\\)"):
        sweep(quantize(snn), x, y, quiet=True)
    with pytest.raises(QuantizationError, match="needs a converted SNN \\(Network\\), got str"):
        sweep("snn", x, y, quiet=True)


def test_load_target_reads_either_kind_of_file(tmp_path):
    assert load_target("pynq-z2-accel").pes == 64 and load_target("loihi").name == "loihi"
    accel = tmp_path / "accel.toml"
    accel.write_text((resources.files("spikeforge.hardware") / "presets" / "accelerators" /
                      "pynq-z2-accel.toml").read_text().replace("pes = 64", "pes = 32"))
    chip = tmp_path / "chip.toml"
    chip.write_text(hardware_to_toml(load_hardware("truenorth")))
    assert isinstance(load_target(accel), AcceleratorSpec) and load_target(accel).pes == 32
    assert isinstance(load_target(chip), Hardware) and load_target(chip).core.crossbar_rows == 256
    bad = tmp_path / "bad.toml"
    bad.write_text("pes = [")
    with pytest.raises(InvalidHardwareSpecError, match="bad.toml: not a valid TOML file"):
        load_target(bad)


def test_both_kinds_of_hardware_are_one_target_interface():
    acc, xbar = as_target("pynq-z2-accel"), as_target("xbar-mesh")
    assert isinstance(acc, Target) and isinstance(xbar, Target)
    assert (acc.kind, acc.axis, acc.sizes()) == ("accelerator", "pes", (64,))
    assert (xbar.kind, xbar.axis, xbar.sizes()) == ("crossbar", "crossbar_sizes", (None,))
    assert acc.point(4, 2, 16) == DesignPoint(4, 2, pes=16)
    assert xbar.point(4, 2, 128) == DesignPoint(4, 2, crossbar_size=128)
    with pytest.raises(DesignSpaceError, match="^pes: crossbar chip xbar-mesh has no PE array; sweep crossbar_sizes"):
        xbar.sizes(pes=[4], crossbar_sizes=None)


def test_an_accelerator_point_is_simulated_once(snn, data, monkeypatch):
    """Accuracy and spike trains of a (bits, T) pair come from one integer run, not two."""
    from spikeforge.quantize import integer_sim

    calls = counting(monkeypatch)
    traced = []
    monkeypatch.setattr(integer_sim, "record_trace", lambda *a, **k: traced.append(a))
    x, y = data
    r = sweep(snn, x, y, "pynq-z2-accel", bits=[4], timesteps=[2], pes=[4, 16], quiet=True)
    assert calls == [(4, 2)] and traced == [] and r.simulations == 1
